#!/usr/bin/env bash
# Builds imagectl's own container image without a Docker daemon or a base image: the
# release binary (stripped), exactly the shared libraries it links and the loader, the
# host's CA certificates, an unprivileged default user (65532). Writes an OCI layout and an
# archive that `imagectl load`, `docker load`, `podman load` and `ctr import` read
# (scripts/mkimage.py has the details). Reproducible: the same commit gives the same digest.
# Prints `NAME DIGEST COMPRESSED_BYTES` last; MAX_COMPRESSED_MIB=N fails a bigger image.
#
#   scripts/build-image.sh [OUT]                      # default OUT: target/image
#   IMAGE_NAME=registry.example/tools/imagectl:0.1.0 scripts/build-image.sh
#   IMAGECTL=/path/to/imagectl scripts/build-image.sh  # skip the build
#   IMAGE_SOURCE=https://git.example/imagectl          # the source label (default: origin)
#
# Then push it to your registry (as README *Installing* shows):
#   imagectl --store /tmp/s load -i target/image/imagectl-0.1.0.tar
#   imagectl --store /tmp/s push imagectl:0.1.0 registry.example/tools/imagectl:0.1.0
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

started=$(date +%s)
OUT=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/image}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE_NAME=${IMAGE_NAME:-imagectl:$VERSION}
# org.opencontainers.image.source: IMAGE_SOURCE, else the `origin` remote as an https URL
# (a clone of a local path has no URL to give: the placeholder below stands in).
if [[ -z ${IMAGE_SOURCE:-} ]]; then
    IMAGE_SOURCE=$(git remote get-url origin 2>/dev/null |
        sed -e 's#^git@\([^:]*\):#https://\1/#' -e 's#^ssh://git@#https://#' -e 's#\.git$##' || true)
    [[ $IMAGE_SOURCE == https://* || $IMAGE_SOURCE == http://* ]] || IMAGE_SOURCE=
fi
IMAGE_SOURCE=${IMAGE_SOURCE:-https://example.invalid/imagectl}
# The commit's time and hash (a tree with uncommitted changes is marked `-dirty`; its
# digest still depends only on the bytes that go in).
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $REVISION != unknown ]] && ! git diff --quiet HEAD 2>/dev/null; then REVISION+=-dirty; fi
EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

ensure_imagectl
command -v strip >/dev/null || { echo "build-image: strip is missing: apt-get install binutils" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
strip -o "$OUT/imagectl" "$IMAGECTL"
log "writing the image to $OUT"
read -r _ digest bytes < <(python3 "$ROOT/scripts/mkimage.py" --binary "$OUT/imagectl" \
    --out "$OUT" --name "$IMAGE_NAME" --version "$VERSION" --revision "$REVISION" \
    --source "$IMAGE_SOURCE" --epoch "$EPOCH")
rm "$OUT/imagectl"
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
log "built $IMAGE_NAME ($digest, $mib MiB compressed) in $(($(date +%s) - started)) s: $OUT/oci, $OUT/imagectl-$VERSION.tar"
if [[ -n ${MAX_COMPRESSED_MIB:-} ]] && ((bytes > MAX_COMPRESSED_MIB * 1048576)); then
    echo "build-image: the image is $mib MiB compressed, more than MAX_COMPRESSED_MIB=$MAX_COMPRESSED_MIB" >&2
    exit 1
fi
echo "$IMAGE_NAME $digest $bytes"
