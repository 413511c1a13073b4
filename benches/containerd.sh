#!/usr/bin/env bash
# containerd benchmark: imagectl against `ctr images pull` on the same images, in one run,
# three private containerd 2.x daemons (Debian sid's, from scripts/engines.sh), one per
# party, so none finds another's layers. A plain-HTTP loopback registry holds N small images
# (sharing a base layer) and one large image (BIG_LAYERS x BIG_LAYER_MIB MiB):
#
#   (a) imagectl apply of a policy declaring the N+1 images into containerd A
#       (imagectl's client, written and unpacked as CRI writes a pull)
#   (b) a `ctr images pull` loop over the same N+1 references into containerd B
#   (c) imagectl apply with `pull: cri` (CRI PullImage, the kubelet's path) into containerd C
#   (d) the same imagectl apply again on A: nothing new
#   (e) the same ctr pull loop again on B: every image present
#
# Prints wall times, the ratios, imagectl's peak RSS, and the CPU time of the tool, of the
# containerd it talked to and of the registry (from /proc): their sum over the cores is the
# shortest wall time a run could have had on this machine.
#
#   benches/containerd.sh                              # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/containerd.sh
#   N=100 BIG_LAYERS=4 BIG_LAYER_MIB=128 benches/containerd.sh   # the defaults
#   KEEP=1 benches/containerd.sh                       # keep the temp dir (path printed)
#
# Needs docker-registry, skopeo, python3, GNU time and Debian sid's containerd (fetched by
# scripts/engines.sh sid, never installed); runs as root (containerd mounts snapshots).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

N=${N:-100}
BIG_LAYERS=${BIG_LAYERS:-4}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-128}
PUSH_JOBS=${PUSH_JOBS:-4}

ensure_packages
SID=$(bash "$ROOT/scripts/engines.sh" sid)
CTR=$SID/usr/bin/ctr
ensure_imagectl

WORK=$(mktemp -d -p /tmp ictl-bc.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

start_registry "$WORK/registry" true
REG=$REG_HOST; REG_PID_=$REG_PID; PIDS+=("$REG_PID"); REG_PID=

# start_containerd DIR: a private containerd 2.x with CRI (overlayfs, hosts.toml under DIR);
# sets CTD_SOCK and CTD_PID.
start_containerd() {
    local d=$1
    mkdir -p "$d/certs.d/$REG"
    printf 'server = "http://%s"\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$REG" "$REG" \
        >"$d/certs.d/$REG/hosts.toml"
    cat >"$d/config.toml" <<TOML
version = 3
root = '$d/root'
state = '$d/state'
disabled_plugins = ['io.containerd.nri.v1.nri', 'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.erofs']
[grpc]
  address = '$d/c.sock'
[ttrpc]
  address = '$d/c.sock.ttrpc'
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '$d/certs.d'
  [plugins.'io.containerd.internal.v1.opt']
    path = '$d/opt'
  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
TOML
    PATH="$SID/usr/bin:$PATH" "$SID/usr/bin/containerd" --config "$d/config.toml" >"$d/log" 2>&1 &
    CTD_PID=$!
    CTD_SOCK=$d/c.sock
    for _ in $(seq 100); do
        "$CTR" -a "$CTD_SOCK" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "containerd in $d did not start: $(tail -5 "$d/log")" >&2
    exit 1
}
start_containerd "$WORK/a"; A_SOCK=$CTD_SOCK; A_PID=$CTD_PID; PIDS+=("$A_PID")
start_containerd "$WORK/b"; B_SOCK=$CTD_SOCK; B_PID=$CTD_PID; PIDS+=("$B_PID")
start_containerd "$WORK/c"; C_SOCK=$CTD_SOCK; C_PID=$CTD_PID; PIDS+=("$C_PID")
log "registry $REG (http); containerd A (imagectl), B (ctr), C (imagectl through CRI): $("$CTR" --version)"

# --- images -------------------------------------------------------------------------------------
L=$WORK/layout
log "building $N small images and one ${BIG_LAYERS}x${BIG_LAYER_MIB} MiB image"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$N" --prefix app- >"$WORK/small.refs"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$BIG_LAYERS" --layer-mib "$BIG_LAYER_MIB" >/dev/null
push() {
    local src="oci:$L:$1" dst="docker://$REG/bench/$1:1.0"
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst" 2>/dev/null ||
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst"
}
export -f push
export L REG
mapfile -t names < <(cut -d' ' -f1 "$WORK/small.refs")
names+=(big)
log "pushing $((N + 1)) images"
push "${names[0]}"
printf '%s\n' "${names[@]:1}" | xargs -P "$PUSH_JOBS" -I{} bash -c 'push "$1"' _ {}

policy() { # SOCK PULL
    echo "version: 1"
    echo "store: { containerd: { address: \"$1\", pull: $2, min_age: 0s } }"
    echo "images:"
    for n in "${names[@]}"; do echo "  - { name: $REG/bench/$n, tags: [\"1.0\"] }"; done
}
policy "$A_SOCK" imagectl >"$WORK/policy-a.yaml"
policy "$C_SOCK" cri >"$WORK/policy-c.yaml"
printf "$REG/bench/%s:1.0\n" "${names[@]}" >"$WORK/refs"
pull_loop() { while read -r ref; do "$CTR" -a "$B_SOCK" -n k8s.io images pull --plain-http "$ref" >/dev/null; done <"$WORK/refs"; }
export -f pull_loop
export WORK B_SOCK CTR
export IMAGECTL_STATE_DIR=$WORK/state

timed() { local out=$1; shift; /usr/bin/time -f '%e %M %U %S' -o "$out" "$@"; }
run() { # NAME DAEMON-PID CMD...: time CMD; the daemon's and the registry's CPU in WORK/NAME.cpu
    local name=$1 dpid=$2 d0 r0; shift 2
    d0=$(cpu_s "$dpid"); r0=$(cpu_s "$REG_PID_")
    timed "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1 || { tail -20 "$WORK/$name.log" >&2; exit 1; }
    awk -v d0="$d0" -v d1="$(cpu_s "$dpid")" -v r0="$r0" -v r1="$(cpu_s "$REG_PID_")" \
        'BEGIN { printf "%.2f %.2f\n", d1 - d0, r1 - r0 }' >"$WORK/$name.cpu"
}

log "(a) imagectl apply: $((N + 1)) images into containerd A"
run a "$A_PID" "$IMAGECTL" apply --yes -f "$WORK/policy-a.yaml"
log "(b) ctr images pull loop: $((N + 1)) images into containerd B"
run b "$B_PID" bash -c pull_loop
log "(c) imagectl apply, pull: cri: $((N + 1)) images into containerd C"
run c "$C_PID" "$IMAGECTL" apply --yes -f "$WORK/policy-c.yaml"
log "(d) imagectl apply again on A: nothing new"
run d "$A_PID" "$IMAGECTL" apply --yes -f "$WORK/policy-a.yaml"
log "(e) ctr images pull loop again on B: every image present"
run e "$B_PID" bash -c pull_loop

# Sanity: every daemon holds every image at the registry's digest, unpacked.
for n in "${names[0]}" big; do
    for s in "$A_SOCK" "$B_SOCK" "$C_SOCK"; do
        "$CTR" -a "$s" -n k8s.io images ls -q | grep -qx "$REG/bench/$n:1.0" ||
            { echo "$n missing in $s" >&2; exit 1; }
    done
done
for s in "$A_SOCK" "$B_SOCK"; do
    "$CTR" -a "$s" -n k8s.io images check | grep "$REG/bench/big:1.0" | grep -q complete ||
        { echo "big incomplete in $s" >&2; exit 1; }
done
grep -q "No changes" "$WORK/d.log" || { cat "$WORK/d.log" >&2; exit 1; }

# --- report -------------------------------------------------------------------------------------
ratio() { awk -v i="$1" -v s="$2" 'BEGIN { if (i > 0) printf "%.1fx", s / i; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
field() { awk -v i="$2" '{ print $i }' "$WORK/$1.time"; }
echo
printf 'imagectl:   %s\ncontainerd: %s\nmachine:    %s cores, %s\n\n' \
    "$("$IMAGECTL" --version)" "$("$CTR" --version)" "$(nproc)" "$(uname -sr)"
printf '%-44s %11s %11s %14s %18s\n' run "imagectl s" "ctr s" "ctr/imagectl" "imagectl peak RSS"
row() { printf '%-44s %11s %11s %14s %18s\n' "$1" "$(field "$2" 1)" "$(field "$3" 1)" \
    "$(ratio "$(field "$2" 1)" "$(field "$3" 1)")" "$(mib "$(field "$2" 2)")"; }
row "first: $N small + 1x$((BIG_LAYERS * BIG_LAYER_MIB)) MiB" a b
row "first, imagectl through CRI PullImage" c b
row "again, every image present" d e
echo
printf '%-30s %10s %10s %10s %10s %14s\n' "CPU seconds" tool containerd registry sum "sum / $(nproc) cores"
cpu_row() { # LABEL RUN
    local dk rg
    read -r dk rg <"$WORK/$2.cpu"
    awk -v l="$1" -v u="$(field "$2" 3)" -v s="$(field "$2" 4)" -v dk="$dk" -v rg="$rg" -v n="$(nproc)" \
        'BEGIN { t = u + s; sum = t + dk + rg; printf "%-30s %10.2f %10.2f %10.2f %10.2f %14.2f\n", l, t, dk, rg, sum, sum / n }'
}
cpu_row "imagectl, first" a
cpu_row "ctr pull loop, first" b
cpu_row "imagectl via CRI, first" c
cpu_row "imagectl, nothing new" d
cpu_row "ctr pull loop, present" e
echo "(containerd's CPU includes unpacking into overlayfs; ctr's own CPU counts as tool)"
