//! The reference seller's command line: secrets given in the environment are never printed.

use std::process::Command;

#[test]
fn help_never_prints_secrets_from_the_environment() {
    let key = "principal=super-secret-api-key-0123456789";
    let url = "postgres://seller:hunter2-password@db.example:5432/adcp";
    let out = Command::new(env!("CARGO_BIN_EXE_reference-seller"))
        .arg("--help")
        .env("ADCP_API_KEYS", key)
        .env("ADCP_DATABASE_URL", url)
        .env("ADCP_API_KEY_HASHES", "principal=abcdef0123")
        .output()
        .expect("the binary runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("ADCP_API_KEYS") && help.contains("ADCP_DATABASE_URL"),
        "{help}"
    );
    for secret in ["super-secret", "hunter2", "abcdef0123"] {
        assert!(!help.contains(secret), "--help printed `{secret}`:\n{help}");
    }
}
