//! `schemas/` holds exactly what `schemas/MANIFEST.json` says, byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir)
        .expect("readable")
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&path).expect("readable");
            let hex: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.insert(rel, hex);
        }
    }
}

#[test]
fn vendored_files_match_the_manifest() {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(schemas.join("MANIFEST.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["package"], "adcp");
    assert_eq!(manifest["version"], "9.2.0");
    assert_eq!(manifest["adcp_version"], "3.0.18");
    let expected: BTreeMap<String, String> = manifest["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let mut actual = BTreeMap::new();
    walk(&schemas.join("3.0"), &schemas.join("3.0"), &mut actual);
    let changed: Vec<&String> = expected
        .keys()
        .filter(|k| actual.get(*k) != expected.get(*k))
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "vendored files differ from MANIFEST.json (or are missing): {changed:?}"
    );
    assert!(extra.is_empty(), "files not in MANIFEST.json: {extra:?}");
    assert!(schemas.join("LICENSE").exists() && schemas.join("NOTICE").exists());
}
