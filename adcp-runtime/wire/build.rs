//! Generates the AdCP wire types into `$OUT_DIR/adcp_wire.rs` from `schemas/3.0`, or from the
//! schema tree named by `ADCP_SCHEMAS_DIR` (an absolute path) to build against another release.

use std::path::PathBuf;

fn main() {
    // Display, not Debug: a schema problem should read like a compiler message.
    if let Err(err) = run() {
        panic!("adcp-codegen failed:\n{err}");
    }
}

fn run() -> Result<(), adcp_codegen::Error> {
    println!("cargo:rerun-if-env-changed=ADCP_SCHEMAS_DIR");
    let (dir, prefix) = match std::env::var_os("ADCP_SCHEMAS_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let prefix = format!("{:?}", format!("{}/", dir.display()));
            (dir, prefix)
        }
        None => (
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/3.0")),
            r#"env!("CARGO_MANIFEST_DIR"), "/../../schemas/3.0/""#.to_owned(),
        ),
    };
    let settings = adcp_codegen::Settings::default().with_embedded_schemas(prefix);
    let out = adcp_codegen::Generator::new(settings)
        .schemas_dir(dir)
        .rerun_if_changed(true)
        .generate()?;
    out.write_to_out_dir("adcp_wire.rs")?;
    Ok(())
}
