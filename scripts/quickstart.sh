#!/usr/bin/env bash
# Quickstart: build imagectl, start a throwaway local registry, seed it with a few small
# images built without docker (umoci + skopeo), apply a policy to an imagectl store, then
# (as root, with Debian's dockerd) the same policy to a private Docker Engine.
#
#   scripts/quickstart.sh                 # store in a new temp dir (its path is printed)
#   STORE=/some/dir scripts/quickstart.sh # or choose the store
#   IMAGECTL=/path/to/imagectl scripts/quickstart.sh   # use that binary, skip cargo build
#
# Needs Debian packages docker-registry, skopeo, umoci, apache2-utils, time and (for the
# Docker part) docker.io (installed when missing, with apt-get, their services kept from
# starting; no other network access). The registry listens on a free
# 127.0.0.1 port and is stopped when the script exits; the store is kept.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

ensure_packages

ensure_imagectl

WORK=$(mktemp -d -t imagectl-quickstart.XXXXXX)
STORE=${STORE:-$WORK/store}
cleanup() {
    stop_dockerd
    stop_registry
    if [[ -n ${LAB_PID:-} ]]; then kill "$LAB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK/registry" "$WORK/lab" "$WORK/images"
}
trap cleanup EXIT

start_registry "$WORK/lab"
LAB=$REG_HOST
LAB_PID=$REG_PID
start_registry "$WORK/registry"
HOST=$REG_HOST
log "registry on $HOST (pid $REG_PID)"

# --- images, built without docker -------------------------------------------------------------
L=$WORK/images/layout
mkdir -p "$WORK/images"
umoci init --layout "$L"
skopeo_push() { # LAYOUT:REF REPO:TAG [--all]
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "${@:3}" "oci:$1" "docker://$HOST/$2"
}

# demo/hello:1.0 — one layer holding /hello/greeting.txt
mkdir -p "$WORK/images/hello"
echo "Hello from imagectl's quickstart" >"$WORK/images/hello/greeting.txt"
umoci new --image "$L:hello"
umoci insert --image "$L:hello" "$WORK/images/hello" /hello
umoci config --image "$L:hello" --config.cmd cat --config.cmd /hello/greeting.txt \
    --config.env GREETING=hello --config.label org.opencontainers.image.title=hello
skopeo_push "$L:hello" demo/hello:1.0

# demo/tools:2.3 — two layers (a "base" and an "app" layer)
mkdir -p "$WORK/images/base/etc" "$WORK/images/app/bin"
printf 'NAME="quickstart base"\nID=quickstart\n' >"$WORK/images/base/etc/os-release"
printf '#!/bin/sh\necho tools 2.3\n' >"$WORK/images/app/bin/tools"
chmod +x "$WORK/images/app/bin/tools"
umoci new --image "$L:tools"
umoci insert --image "$L:tools" "$WORK/images/base" /
umoci insert --image "$L:tools" "$WORK/images/app" /usr/local
umoci config --image "$L:tools" --config.entrypoint /usr/local/bin/tools \
    --config.workingdir / --config.label org.opencontainers.image.version=2.3
skopeo_push "$L:tools" demo/tools:2.3

# demo/multi:1.0 — an OCI image index: linux/amd64 and linux/arm64/v8 images that differ
for arch in amd64 arm64; do
    mkdir -p "$WORK/images/multi-$arch"
    echo "built for linux/$arch" >"$WORK/images/multi-$arch/platform.txt"
    umoci new --image "$L:multi-$arch"
    umoci insert --image "$L:multi-$arch" "$WORK/images/multi-$arch" /
    umoci config --image "$L:multi-$arch" --os linux --architecture "$arch" \
        --config.cmd cat --config.cmd /platform.txt
done
umoci gc --layout "$L"
entry() { # REF PLATFORM-JSON -> one index entry for that image's manifest
    local raw=$WORK/images/$1.manifest digest size
    skopeo --insecure-policy inspect --raw "oci:$L:$1" >"$raw" # a file keeps a trailing newline
    digest=sha256:$(sha256sum <"$raw" | cut -d' ' -f1)
    size=$(wc -c <"$raw")
    printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":%s}' \
        "$digest" "$size" "$2"
}
index=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
    "$(entry multi-amd64 '{"architecture":"amd64","os":"linux"}')" \
    "$(entry multi-arm64 '{"architecture":"arm64","os":"linux","variant":"v8"}')")
M=$WORK/images/multi-layout
mkdir -p "$M/blobs/sha256"
cp -l "$L"/blobs/sha256/* "$M/blobs/sha256/" 2>/dev/null || cp "$L"/blobs/sha256/* "$M/blobs/sha256/"
index_hex=$(printf '%s' "$index" | sha256sum | cut -d' ' -f1)
printf '%s' "$index" >"$M/blobs/sha256/$index_hex"
printf '{"imageLayoutVersion":"1.0.0"}' >"$M/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}' \
    "$index_hex" "${#index}" >"$M/index.json"
skopeo_push "$M:multi" demo/multi:1.0 --all

log "registry seeded: $HOST/demo/hello:1.0 $HOST/demo/tools:2.3 $HOST/demo/multi:1.0 (amd64 + arm64/v8)"

# --- imagectl: the declarative loop on the embedded store ------------------------------------
# policies/demo.yaml names the registry as REGISTRY; this run's registry has a random port.
POLICY=$WORK/demo.yaml
sed -e "s/REGISTRY/$HOST/g" -e "s/lab\.invalid/$LAB/g" "$ROOT/policies/demo.yaml" >"$POLICY"
set -x
"$IMAGECTL" validate -f "$POLICY"
"$IMAGECTL" --store "$STORE" plan -f "$POLICY"
"$IMAGECTL" --store "$STORE" apply -f "$POLICY" --yes
"$IMAGECTL" --store "$STORE" images
"$IMAGECTL" tags "$LAB/lab/demo/hello"                  # replicated to the second registry, digests preserved
"$IMAGECTL" --store "$STORE" apply -f "$POLICY" --yes     # again: nothing to do, one HEAD per tag
"$IMAGECTL" --store "$STORE" inspect -f '{{.Id}} {{json .RepoTags}}' local/hello:stable  # the hands-on commands work too
"$IMAGECTL" --store "$STORE" df -v
{ set +x; } 2>/dev/null

cat <<EOF

The store is an OCI image layout and stays in place after the registry stopped:
  $STORE
Look at it with other tools, e.g.:
  $IMAGECTL --store $STORE inspect $HOST/demo/hello:1.0
  skopeo inspect oci:$STORE:$HOST/demo/hello:1.0
  umoci ls --layout $STORE
EOF

# --- the same policy on a Docker Engine ---------------------------------------------------
# A private dockerd (Debian 12's 20.10: its own data root and socket, no networking set-up),
# so the host's Docker is never touched. The replication part is left out here.
if [[ $(id -u) -eq 0 ]] && command -v dockerd >/dev/null; then
    start_dockerd "$WORK/dockerd"
    DOCKER_POLICY=$WORK/docker.yaml
    sed '/^replicate:/,$d' "$POLICY" >"$DOCKER_POLICY"
    export IMAGECTL_STATE_DIR=$WORK/state
    set -x
    "$IMAGECTL" --store "docker:unix://$DOCKERD_SOCK" apply -f "$DOCKER_POLICY" --yes
    "$IMAGECTL" --store "docker:unix://$DOCKERD_SOCK" images
    docker -H "unix://$DOCKERD_SOCK" images                # the Engine's own view
    "$IMAGECTL" --store "docker:unix://$DOCKERD_SOCK" plan -f "$DOCKER_POLICY" --detailed-exitcode  # 0: nothing to do
    { set +x; } 2>/dev/null
    log "the same policy gave the Docker Engine the same names; its dockerd stops now"
else
    log "skipped the Docker Engine part: it needs root and dockerd (Debian docker.io)"
fi

if [[ $STORE == "$WORK"/* ]]; then echo "Remove it with: rm -rf $WORK"; else rm -f "$POLICY"; rmdir "$WORK" 2>/dev/null || true; fi
