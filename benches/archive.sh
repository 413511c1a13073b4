#!/usr/bin/env bash
# Archive benchmark: imagectl save/load against docker save/load, same image, one run.
#
# One multi-layer image (LAYERS x LAYER_MIB MiB of random data, scripts/mkoci.py big) is pushed
# to a local registry and pulled into an imagectl store and into a private dockerd (vfs, its own
# data root). Then, each timed with GNU time:
#
#   save, plain    imagectl save -o F IMAGE           vs  docker save -o F IMAGE
#   save, gzip     imagectl save --compress gzip      vs  docker save IMAGE | gzip
#   load, plain    imagectl load -i docker's F        vs  docker load -i docker's F
#   load, gzip     imagectl load -i docker's F.gz     vs  docker load -i docker's F.gz
#
# Both loads read the same file (docker's archive), each into an empty target (a fresh store;
# dockerd after `docker rmi`). Prints wall times, docker/imagectl ratios and imagectl's peak RSS.
#
#   benches/archive.sh                              # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/archive.sh   # use that binary, no build
#   LAYERS=4 LAYER_MIB=256 benches/archive.sh       # the defaults (1 GiB)
#   KEEP=1 benches/archive.sh                       # keep the temp dir (path printed)
#
# Needs docker-registry, skopeo, docker.io (dockerd 20.10), python3 and GNU time. vfs copies
# every layer for every layer above it: with the defaults about 2.5 GiB for dockerd plus ~6 GiB
# of archives and stores under $TMPDIR. Not part of the test suite.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

LAYERS=${LAYERS:-4}
LAYER_MIB=${LAYER_MIB:-256}

ensure_packages
if ! command -v dockerd >/dev/null; then
    log "installing docker.io"
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io
fi
command -v python3 >/dev/null || { echo "python3 is needed to build the image" >&2; exit 1; }
ensure_imagectl
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=docker

WORK=$(mktemp -d -t imagectl-bench.XXXXXX)
# The socket and exec root need a short path (unix sockets: < 108 bytes).
DK=$(mktemp -d /tmp/ictl-bd.XXXXXX)
DOCKERD_PID=
cleanup() {
    stop_registry
    if [[ -n $DOCKERD_PID ]]; then
        kill "$DOCKERD_PID" 2>/dev/null || true
        wait "$DOCKERD_PID" 2>/dev/null || true
    fi
    grep -o " $DK[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    grep -o " $WORK[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$DK"
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

start_registry "$WORK/registry" true
HOST=$REG_HOST
log "registry on $HOST (pid $REG_PID)"

echo '{}' >"$DK/daemon.json"
dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
    --data-root "$WORK/docker" --exec-root "$DK/e" --pidfile "$DK/p" -H "unix://$DK/s" \
    --config-file "$DK/daemon.json" --insecure-registry "$HOST" >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
dk() { DOCKER_CONFIG=$DK "$DOCKER" -H "unix://$DK/s" "$@"; }
for _ in $(seq 300); do
    dk info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || { cat "$WORK/dockerd.log" >&2; exit 1; }
    sleep 0.1
done
dk info >/dev/null || { echo "dockerd did not come up" >&2; exit 1; }
log "dockerd $(dk version -f '{{.Server.Version}}') on $DK/s (pid $DOCKERD_PID)"

# --- the image ----------------------------------------------------------------------------------
L=$WORK/layout
log "building a ${LAYERS}x${LAYER_MIB} MiB image (scripts/mkoci.py big)"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$LAYERS" --layer-mib "$LAYER_MIB" >/dev/null
BIG=$HOST/bench/big:1.0
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:big" "docker://$BIG"
rm -rf "$L"
log "pulling $BIG into the imagectl store and into dockerd"
"$IMAGECTL" --store "$WORK/store" pull -q "$BIG" >/dev/null
dk pull -q "$BIG" >/dev/null

# --- runs -----------------------------------------------------------------------------------------
# timed NAME CMD... : GNU time writes "wall-seconds max-rss-KiB" to $WORK/NAME.time
# Dirty pages of the previous step are flushed first, so no run pays for another's writes.
timed() {
    local name=$1
    shift
    sync
    /usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@"
}
A=$WORK/out
mkdir -p "$A"
sync

log "save, plain"
timed i-save "$IMAGECTL" --store "$WORK/store" save -o "$A/imagectl.tar" "$BIG"
sync
timed d-save "$DOCKER" -H "unix://$DK/s" save -o "$A/docker.tar" "$BIG"
sync

log "save, gzip"
timed i-save-gz "$IMAGECTL" --store "$WORK/store" save --compress gzip -o "$A/imagectl.tar.gz" "$BIG"
sync
# docker has no compression of its own: its gzip is a pipe through gzip(1).
timed d-save-gz bash -c 'DOCKER_CONFIG=$3 "$1" -H "unix://$3/s" save "$2" | gzip >"$4"' _ \
    "$DOCKER" "$BIG" "$DK" "$A/docker.tar.gz"
sync

load_docker() { # NAME FILE: docker load into an empty daemon
    dk rmi -f "$BIG" >/dev/null
    dk image prune -af >/dev/null
    sync
    timed "$1" "$DOCKER" -H "unix://$DK/s" load -q -i "$2" >/dev/null
}
log "load, plain (docker's archive)"
timed i-load "$IMAGECTL" --store "$WORK/load1" load -q -i "$A/docker.tar" >/dev/null
rm -rf "$WORK/load1"
load_docker d-load "$A/docker.tar"
log "load, gzip (docker's archive through gzip)"
timed i-load-gz "$IMAGECTL" --store "$WORK/load2" load -q -i "$A/docker.tar.gz" >/dev/null
rm -rf "$WORK/load2"
load_docker d-load-gz "$A/docker.tar.gz"

# --- sanity: the same image everywhere ------------------------------------------------------------
id_i=$("$IMAGECTL" --store "$WORK/store" inspect -f '{{.Id}}' "$BIG")
id_d=$(dk image inspect -f '{{.Id}}' "$BIG")
[[ $id_i == "$id_d" ]] || { echo "image IDs differ: imagectl $id_i, docker $id_d" >&2; exit 1; }

# --- report -----------------------------------------------------------------------------------
ratio() { awk -v i="$1" -v d="$2" 'BEGIN { if (i > 0) printf "%.2fx", d / i; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
size() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }

echo
printf 'imagectl: %s\ndocker:   %s\nmachine:  %s cores, %s\nimage:    %s layers x %s MiB (random data), ID %s\n\n' \
    "$("$IMAGECTL" --version 2>/dev/null || echo "$IMAGECTL")" "$(dk version -f '{{.Server.Version}}')" \
    "$(nproc)" "$(uname -sr)" "$LAYERS" "$LAYER_MIB" "$id_i"
printf '%-14s %12s %10s %16s %18s %14s %14s\n' run "imagectl s" "docker s" "docker/imagectl" \
    "imagectl peak RSS" "imagectl file" "docker file"
row() { # LABEL I-NAME D-NAME I-FILE D-FILE
    local iw ir dw dr
    read -r iw ir <"$WORK/$2.time"
    read -r dw dr <"$WORK/$3.time"
    printf '%-14s %12s %10s %16s %18s %14s %14s\n' "$1" "$iw" "$dw" "$(ratio "$iw" "$dw")" \
        "$(mib "$ir")" "${4:+$(size "$4")}" "${5:+$(size "$5")}"
}
row "save" i-save d-save "$A/imagectl.tar" "$A/docker.tar"
row "save gzip" i-save-gz d-save-gz "$A/imagectl.tar.gz" "$A/docker.tar.gz"
row "load" i-load d-load "" ""
row "load gzip" i-load-gz d-load-gz "" ""
