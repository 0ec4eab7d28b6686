#!/usr/bin/env bash
# Vendors the AdCP 3.0 JSON schemas into schemas/3.0 from the PyPI package that ships the
# complete set (adcp==9.2.0 carries AdCP 3.0.18 at adcp/_schemas/3.0/, including
# compliance/comply-test-controller-* and tmp/*, which @adcp/sdk@6.11.0 lacks), and writes
# schemas/MANIFEST.json: package, version, wheel sha256 and the sha256 of every vendored file.
#
# `bundled/` is left out on purpose: it covers 37 of the 57 tasks and repeats shared types under
# clashing names; adcp-codegen resolves `$ref`s across the source tree itself.
#
# Usage: schemas/vendor.sh            (needs python3 with pip; network to PyPI)
set -euo pipefail

package=adcp
version=9.2.0
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: "$package==$version" -d "$tmp"
wheel=$(ls "$tmp"/*.whl)

python3 - "$wheel" "$here" "$package" "$version" <<'PY'
import hashlib, json, os, shutil, sys, zipfile

wheel, here, package, version = sys.argv[1:5]
prefix = "adcp/_schemas/3.0/"
out = os.path.join(here, "3.0")
if os.path.isdir(out):
    shutil.rmtree(out)
files = {}
with zipfile.ZipFile(wheel) as z:
    for name in sorted(z.namelist()):
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = name[len(prefix):]
        if rel.startswith("bundled/"):
            continue
        data = z.read(name)
        dest = os.path.join(out, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "wb") as f:
            f.write(data)
        files[rel] = hashlib.sha256(data).hexdigest()
    licence = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
    with open(os.path.join(here, "LICENSE"), "wb") as f:
        f.write(z.read(licence))

with open(wheel, "rb") as f:
    wheel_sha = hashlib.sha256(f.read()).hexdigest()
index = json.load(open(os.path.join(out, "index.json")))
manifest = {
    "registry": "pypi",
    "package": package,
    "version": version,
    "wheel": os.path.basename(wheel),
    "wheel_sha256": wheel_sha,
    "source_path": prefix,
    "adcp_version": index["adcp_version"],
    "excluded": ["bundled/"],
    "files": files,
}
with open(os.path.join(here, "MANIFEST.json"), "w") as f:
    json.dump(manifest, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"vendored {len(files)} files of AdCP {index['adcp_version']} from {package}=={version}")
PY
