//! Generates the AdCP wire types from `schemas/3.0` into `$OUT_DIR/adcp_wire.rs`.

fn main() {
    // Display, not Debug: a schema problem should read like a compiler message.
    if let Err(err) = run() {
        panic!("adcp-codegen failed:\n{err}");
    }
}

fn run() -> Result<(), adcp_codegen::Error> {
    let settings = adcp_codegen::Settings::default()
        .with_embedded_schemas(r#"env!("CARGO_MANIFEST_DIR"), "/../../schemas/3.0/""#);
    let out = adcp_codegen::Generator::new(settings)
        .schemas_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/3.0"))
        .rerun_if_changed(true)
        .generate()?;
    out.write_to_out_dir("adcp_wire.rs")?;
    Ok(())
}
