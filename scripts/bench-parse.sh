#!/usr/bin/env bash
# Parse + typed access of Via/From/To/Call-ID/CSeq/Contact, Carillon vs rsip, on the same three
# messages, side by side:
#  1. wall time: one criterion run (medians and the ratio rsip / carillon);
#  2. instructions per message under callgrind (deterministic on a shared machine), when
#     valgrind is installed.
# Extra arguments go to criterion (e.g. --measurement-time 10).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p carillon-protocol --bench parse -- "$@" >/dev/null
python3 - <<'PY'
import json, os
root = "target/criterion"
print(f"wall time (criterion median)\n{'message':<18} {'carillon ns':>12} {'rsip ns':>9} {'ratio':>7}")
for msg in ["invite_sdp", "register_digest", "ok200_sdp"]:
    med = {}
    for impl in ["carillon", "rsip"]:
        with open(os.path.join(root, msg, impl, "new", "estimates.json")) as f:
            med[impl] = json.load(f)["median"]["point_estimate"]
    print(f"{msg:<18} {med['carillon']:>12.0f} {med['rsip']:>9.0f} {med['rsip']/med['carillon']:>6.1f}x")
PY
command -v valgrind >/dev/null || { echo "(valgrind not installed: no instruction counts)"; exit 0; }
cargo build -q --release -p carillon-protocol --example parse_compare
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null ./target/release/examples/parse_compare "$1" "$2" "$3" 2>&1 \
       | awk '/refs:/ {gsub(",", "", $4); print $4}'; }
printf '\ninstructions per message (callgrind, 1000 iterations minus 0)\n%-18s %12s %9s %7s\n' message carillon rsip ratio
for m in invite register ok200; do
  c=$(( ($(ir carillon $m 1010) - $(ir carillon $m 10)) / 1000 ))
  r=$(( ($(ir rsip $m 1010) - $(ir rsip $m 10)) / 1000 ))
  printf '%-18s %12d %9d %6s\n' "$m" "$c" "$r" "$(python3 -c "print(f'{$r/$c:.1f}x')")"
done
