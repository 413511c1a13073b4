#!/usr/bin/env bash
# Builds the Debian package: target/debian/imagectl_VERSION-1_amd64.deb (under
# CARGO_TARGET_DIR when set), with cargo-deb (installed from crates.io when missing).
# Cargo.toml's [package.metadata.deb] lists what goes in: the binary in /usr/bin, the units
# of examples/systemd (not enabled), man pages, bash/zsh/fish completions, the example
# policies under /usr/share/doc/imagectl/examples; pkg/deb/ has the maintainer scripts.
#
#   scripts/build-deb.sh
#   sudo apt-get install ./target/debian/imagectl_*.deb
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

CARGO_DEB_VERSION=3.8.0
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
    log "cargo install cargo-deb $CARGO_DEB_VERSION (crates.io)"
    cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
log "cargo build --release (a first build takes a few minutes)"
cargo build --release --locked

# Generated assets, where Cargo.toml's `target/release/deb-assets/` points.
assets=$TARGET/release/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$TARGET/release/imagectl" manpages "$assets/man" >/dev/null
gzip -9n "$assets"/man/*.1
"$TARGET/release/imagectl" completions bash >"$assets/completions/imagectl"
"$TARGET/release/imagectl" completions zsh >"$assets/completions/_imagectl"
"$TARGET/release/imagectl" completions fish >"$assets/completions/imagectl.fish"

log "cargo deb --no-build --strip"
# Stripped (the release profile keeps line tables for backtraces of local builds).
deb=$(cargo deb --no-build --locked --strip)
log "built $deb"
echo "$deb"
