#!/usr/bin/env bash
# The test command: installs what the integration tests drive when it is missing (Debian
# packages docker-registry, skopeo, umoci, apache2-utils, openssl, time, docker.io,
# busybox-static, podman, with apt-get; a newer dockerd unpacked by scripts/engines.sh, never
# installed), then runs every test. Arguments go to `cargo test` (a filter, `-- --nocapture`).
#
#   scripts/test.sh
#   scripts/test.sh stores::docker_classic
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

ensure_packages --tests
log "newer dockerd and containerd for the store tests (scripts/engines.sh)"
bash scripts/engines.sh >/dev/null
bash scripts/engines.sh sid >/dev/null

log "cargo test --locked --all-targets $*"
exec cargo test --locked --all-targets "$@"
