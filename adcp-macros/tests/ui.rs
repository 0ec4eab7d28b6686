//! Compile-time behaviour of `#[decisioning_platform]`: `ui/pass` must compile, every file in
//! `ui/fail` must fail with exactly its `.stderr`. See `ui/README.md`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
