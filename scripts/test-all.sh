#!/usr/bin/env bash
# Runs every Carillon test. On a fresh Debian 12 machine it first installs what the tests need
# (apt packages, Rust targets); run it as root there, or have those installed already.
set -euo pipefail
cd "$(dirname "$0")/.."

# iproute2, sip-tester (SIPp) and baresip-core: the rig (hil-tests/), which runs as root;
# qemu-system-arm: the QEMU board's boot test (boards/boot-test).
APT_PACKAGES=(pkg-config postgresql sip-tester iproute2 baresip-core qemu-system-arm)
RUST_TARGETS=(thumbv7em-none-eabihf thumbv7m-none-eabi)

step() { printf '\n== %s\n' "$*"; }

step "install: apt packages (${APT_PACKAGES[*]})"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing apt packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

step "install: rust targets (${RUST_TARGETS[*]})"
installed=$(rustup target list --installed)
for t in "${RUST_TARGETS[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
# llvm-size for the boards' size report.
rustup component list --installed | grep -q '^llvm-tools' || rustup component add llvm-tools

step "no_std: the wire crate and the box core build for a Cortex-M7 (thumbv7em-none-eabihf), no default features"
cargo build -p carillon-protocol -p carillon-firmware --no-default-features --target thumbv7em-none-eabihf

step "lints and docs (warnings are errors), formatting"
cargo fmt --all --check
cargo clippy --workspace --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features

step "release binaries for the rig (hil-tests/ runs carillon-box and carillon-cloud as built for a school and the cloud)"
cargo build --release --locked -p carillon-box -p carillon-cloud --bins

step "tests (unit, integration, doc, benches in test mode; the cloud on embedded SQLite; the rig in namespaces, as root)"
cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc

step "boards: formatting, lints, the flash layer's host tests"
(cd boards && cargo fmt --all --check && cargo test --locked -p carillon-embassy --no-default-features)
(cd boards/mps2-an386 && cargo clippy --locked --release -- -D warnings)
(cd boards/nucleo-h743zi && cargo clippy --locked --release -- -D warnings)

step "boards: both images for Cortex-M (the NUCLEO against its real memory map: statics in its 512 KiB AXI SRAM)"
(cd boards/mps2-an386 && cargo build --locked --release)
(cd boards/nucleo-h743zi && cargo build --locked --release)
./scripts/board-size.sh

step "boards: QEMU boots the mps2-an386 image with a school; phones register through it over UDP (a test socket, SIPp); with an identity it goes online with the real cloud over TLS (pinned certificate), survives a cut and uploads its journal once"
(cd boards/boot-test && cargo fmt --check && cargo clippy --locked --all-targets -- -D warnings && cargo test --locked -- --nocapture)

step "the cloud's suite again on PostgreSQL (a private cluster this script starts and stops)"
./scripts/postgres-test.sh
