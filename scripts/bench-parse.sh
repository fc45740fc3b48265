#!/usr/bin/env bash
# Parse + typed access of six headers, Carillon vs rsip, side by side in one criterion run;
# prints each median and the ratio (rsip / carillon). Extra arguments go to criterion.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carillon-protocol --bench parse -- "$@" >/dev/null
python3 - <<'PY'
import json, os
root = "target/criterion"
print(f"{'message':<18} {'carillon (ns)':>14} {'rsip (ns)':>11} {'ratio':>7}")
for msg in ["invite_sdp", "register_digest", "ok200_sdp"]:
    med = {}
    for impl in ["carillon", "rsip"]:
        with open(os.path.join(root, msg, impl, "new", "estimates.json")) as f:
            med[impl] = json.load(f)["median"]["point_estimate"]
    print(f"{msg:<18} {med['carillon']:>14.0f} {med['rsip']:>11.0f} {med['rsip']/med['carillon']:>6.1f}x")
PY
