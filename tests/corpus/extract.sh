#!/usr/bin/env bash
# Extracts the round-trip corpus from the official compliance storyboards shipped in the npm
# package @adcp/sdk@6.11.0 (compliance/cache/3.0.6/, AdCP 3.0.6, the runner's release):
# every step's `sample_request` (with the storyboard, phase, step, task and whether the step
# expects an error) and every `fixtures` entry, as the runner sends it to
# comply_test_controller (`{scenario: "seed_<kind>", params: {<id fields>, fixture: {...}}}`).
# Writes storyboards-3.0.6.json here. Needs node/npm and python3 (PyYAML is installed if missing).
set -euo pipefail

package=@adcp/sdk
version=6.11.0
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "$package@$version" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
tar xzf "$tgz" -C "$tmp"
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --quiet pyyaml

python3 - "$tmp/package/compliance/cache/3.0.6" "$here/storyboards-3.0.6.json" "$package@$version" "$tgz" <<'PY'
import hashlib, json, os, sys, yaml

root, out, source, tgz = sys.argv[1:5]
# The id fields each seed kind carries in params, as the runner's seeding.js splits them.
ID_FIELDS = {
    "products": ("product", ["product_id"]),
    "pricing_options": ("pricing_option", ["product_id", "pricing_option_id"]),
    "creatives": ("creative", ["creative_id"]),
    "plans": ("plan", ["plan_id"]),
    "media_buys": ("media_buy", ["media_buy_id"]),
    "creative_formats": ("creative_format", ["format_id"]),
}
samples, fixtures = [], []
for d, _, files in sorted(os.walk(root)):
    for name in sorted(files):
        if not name.endswith(".yaml"):
            continue
        rel = os.path.relpath(os.path.join(d, name), root)
        doc = yaml.safe_load(open(os.path.join(d, name)))
        if not isinstance(doc, dict):
            continue
        sb = doc.get("id", rel)
        for phase in doc.get("phases") or []:
            for step in phase.get("steps") or []:
                if "sample_request" not in step:
                    continue
                samples.append({
                    "file": rel, "storyboard": sb, "phase": phase.get("id"), "step": step.get("id"),
                    "task": step.get("task"), "expect_error": bool(step.get("expect_error")),
                    "request": step["sample_request"],
                })
        for kind, entries in (doc.get("fixtures") or {}).items():
            seed, ids = ID_FIELDS.get(kind, (None, []))
            for entry in entries or []:
                params = {k: entry[k] for k in ids if k in entry}
                params["fixture"] = {k: v for k, v in entry.items() if k not in ids}
                fixtures.append({
                    "file": rel, "storyboard": sb, "kind": kind,
                    "request": {"scenario": f"seed_{seed}", "params": params},
                })
with open(tgz, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
json.dump({
    "source": source, "path": "compliance/cache/3.0.6/", "tarball_sha256": digest,
    "licence": "Apache-2.0", "samples": samples, "fixtures": fixtures,
}, open(out, "w"), indent=1, sort_keys=True, default=str)
print(f"{len(samples)} sample requests, {len(fixtures)} fixtures from {source}")
PY
