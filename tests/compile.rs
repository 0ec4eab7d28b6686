//! The generated code for every construct fixture compiles on its own, warnings denied.
//! (The code for the real schemas is the `adcp-wire` crate, built under the workspace lints;
//! CI builds it with `clippy -D warnings`.)

use std::path::Path;

use adcp_codegen::{Generator, Settings};

#[test]
fn generated_fixture_code_compiles_with_warnings_denied() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adcp-codegen/tests/fixtures");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("generated-fixtures");
    std::fs::create_dir_all(&out).expect("tmp dir");
    let mut dirs: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "fail"))
        .collect();
    dirs.sort();
    let support = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adcp-runtime/wire/src/support.rs");
    let support = support
        .canonicalize()
        .expect("support module")
        .to_string_lossy()
        .into_owned();
    let cases = trybuild::TestCases::new();
    for dir in dirs {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let code = Generator::new(Settings::default())
            .schemas_dir(&dir)
            .generate()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .code;
        // A binary crate: items nothing in `main` uses would be dead code, which says nothing
        // about the generated code itself.
        let file = out.join(format!("{name}.rs"));
        // The support module is compiled in by path, as `crate::__support`, so the check does
        // not rebuild the whole wire crate.
        let text = format!(
            "#![deny(warnings, missing_docs)]\n#![allow(dead_code)]\n//! `{name}`\n\n\
             #[path = {support:?}]\nmod __support;\n\n{code}\nfn main() {{}}\n"
        );
        std::fs::write(&file, text).expect("write");
        cases.pass(&file);
    }
}
