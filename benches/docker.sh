#!/usr/bin/env bash
# Docker Engine benchmark: imagectl against the docker CLI on the same images, one run, two
# Debian 12 dockerds (20.10, classic image store, vfs), one per tool, so neither finds the
# other's layers. A plain-HTTP loopback registry holds N small images (sharing a base layer)
# and one large image (BIG_LAYERS x BIG_LAYER_MIB MiB):
#
#   (a) imagectl apply of a policy declaring the N+1 images into dockerd A
#   (b) a `docker pull` loop over the same N+1 references into dockerd B
#   (c) the same imagectl apply again: nothing new
#   (d) the same docker pull loop again: every image present
#   (e) imagectl df -v and (f) docker system df -v, on dockerd A after DF_EXTRA more images
#   (g) the Engine's own share of (a)/(b): `docker load` of the same N+1 images from a local
#       file (written by `docker save` beforehand) into a third, empty dockerd: registering
#       the layers with no registry and no network; (g2) the same as two loads at once (the
#       large image | the small ones) into a fourth, as imagectl runs them; (g3) the Engine's
#       own pulls, four at once, into a fifth. The fastest of the three is the Engine's
#       floor: loop/floor bounds any tool's ratio against the loop, since every tool has the
#       Engine register the same layers, by load or by pull.
#
# Prints wall times, the ratios, imagectl's peak RSS, and the CPU time of the tool, of the
# daemon it talked to and of the registry (from /proc): their sum over the cores is the
# shortest wall time a run could have had on this machine.
#
#   benches/docker.sh                                   # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/docker.sh
#   N=100 BIG_LAYERS=4 BIG_LAYER_MIB=128 DF_EXTRA=199 benches/docker.sh   # the defaults
#   KEEP=1 benches/docker.sh                            # keep the temp dir (path printed)
#
# Needs docker-registry, skopeo, docker.io, python3 and GNU time; runs as root (dockerd).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

N=${N:-100}
BIG_LAYERS=${BIG_LAYERS:-4}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-128}
DF_EXTRA=${DF_EXTRA:-199}
PUSH_JOBS=${PUSH_JOBS:-4}

ensure_packages
# The client shipped with the daemon (a newer one elsewhere on PATH may be a different build).
DOCKER=${DOCKER:-/usr/bin/docker}
command -v dockerd >/dev/null || { echo "dockerd (Debian docker.io) is needed" >&2; exit 1; }
ensure_imagectl

WORK=$(mktemp -d -p /tmp imagectl-bench-docker.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for d in "$WORK"/dk-*; do
        [[ -f $d/e/containerd/containerd.pid ]] && kill -9 "$(cat "$d/e/containerd/containerd.pid")" 2>/dev/null || true
    done
    grep -o " $WORK[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

start_registry "$WORK/registry" true
REG=$REG_HOST; REG_PID_=$REG_PID; PIDS+=("$REG_PID"); REG_PID=

start_dockerd "$WORK/dk-a"; A_SOCK=$DOCKERD_SOCK; A_PID=$DOCKERD_PID; PIDS+=("$A_PID")
start_dockerd "$WORK/dk-b"; B_SOCK=$DOCKERD_SOCK; B_PID=$DOCKERD_PID; PIDS+=("$B_PID")
DOCKERD_PID=
log "registry $REG (http); dockerd A (imagectl) and B (docker CLI), $(dockerd --version)"

# --- images -------------------------------------------------------------------------------------
L=$WORK/layout
log "building $((N + DF_EXTRA)) small images and one ${BIG_LAYERS}x${BIG_LAYER_MIB} MiB image"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$((N + DF_EXTRA))" --prefix app- >"$WORK/small.refs"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$BIG_LAYERS" --layer-mib "$BIG_LAYER_MIB" >/dev/null
push() {
    local src="oci:$L:$1" dst="docker://$REG/bench/$1:1.0"
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst" 2>/dev/null ||
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst"
}
export -f push
export L REG
mapfile -t all_small < <(cut -d' ' -f1 "$WORK/small.refs")
names=("${all_small[@]:0:N}" big)
extra=("${all_small[@]:N}")
log "pushing $((N + DF_EXTRA + 1)) images"
push "${names[0]}"
printf '%s\n' "${names[@]:1}" "${extra[@]}" | xargs -P "$PUSH_JOBS" -I{} bash -c 'push "$1"' _ {}

POLICY=$WORK/policy.yaml
{
    echo "version: 1"
    echo "store: { docker: { host: \"unix://$A_SOCK\" } }"
    echo "images:"
    for n in "${names[@]}"; do echo "  - { name: $REG/bench/$n, tags: [\"1.0\"] }"; done
} >"$POLICY"
printf "$REG/bench/%s:1.0\n" "${names[@]}" >"$WORK/refs"
pull_loop() { while read -r ref; do "$DOCKER" -H "unix://$B_SOCK" pull -q "$ref" >/dev/null; done <"$WORK/refs"; }
export -f pull_loop
export WORK B_SOCK DOCKER
export IMAGECTL_STATE_DIR=$WORK/state

timed() { local out=$1; shift; /usr/bin/time -f '%e %M %U %S' -o "$out" "$@"; }
run() { # NAME DAEMON-PID CMD...: time CMD (output in WORK/NAME.log); the daemon's and the
    #                           registry's CPU for it in WORK/NAME.cpu
    local name=$1 dpid=$2 d0 r0; shift 2
    d0=$(cpu_s "$dpid"); r0=$(cpu_s "$REG_PID_")
    timed "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1 || { tail -20 "$WORK/$name.log" >&2; exit 1; }
    awk -v d0="$d0" -v d1="$(cpu_s "$dpid")" -v r0="$r0" -v r1="$(cpu_s "$REG_PID_")" \
        'BEGIN { printf "%.2f %.2f\n", d1 - d0, r1 - r0 }' >"$WORK/$name.cpu"
}

log "(a) imagectl apply: $((N + 1)) images into dockerd A"
run a "$A_PID" "$IMAGECTL" apply --yes -f "$POLICY"
log "(b) docker pull loop: $((N + 1)) images into dockerd B"
run b "$B_PID" bash -c pull_loop
log "(c) imagectl apply again: nothing new"
run c "$A_PID" "$IMAGECTL" apply --yes -f "$POLICY"
log "(d) docker pull loop again: every image present"
run d "$B_PID" bash -c pull_loop

# Sanity: both daemons hold every image, under the same image IDs.
for n in "${names[0]}" big; do
    ia=$("$DOCKER" -H "unix://$A_SOCK" image inspect -f '{{.Id}}' "$REG/bench/$n:1.0")
    ib=$("$DOCKER" -H "unix://$B_SOCK" image inspect -f '{{.Id}}' "$REG/bench/$n:1.0")
    [[ $ia == "$ib" ]] || { echo "$n: imagectl loaded $ia, docker pulled $ib" >&2; exit 1; }
done
grep -q "No changes" "$WORK/c.log" || { cat "$WORK/c.log" >&2; exit 1; }

log "(g) the Engine's own share: docker load of the same $((N + 1)) images from local files into empty dockerds"
"$DOCKER" -H "unix://$A_SOCK" save -o "$WORK/all.tar" $(cat "$WORK/refs")
"$DOCKER" -H "unix://$A_SOCK" save -o "$WORK/big.tar" "$REG/bench/big:1.0"
"$DOCKER" -H "unix://$A_SOCK" save -o "$WORK/small.tar" $(grep -v '/bench/big:' "$WORK/refs")
start_dockerd "$WORK/dk-c"; C_SOCK=$DOCKERD_SOCK; C_PID=$DOCKERD_PID; PIDS+=("$C_PID"); DOCKERD_PID=
run g "$C_PID" "$DOCKER" -H "unix://$C_SOCK" load -q -i "$WORK/all.tar"
# (g2) the same, as two loads at once (the large image | the small ones), as imagectl runs
# them: the Engine's best, which no tool that goes through its API can beat.
start_dockerd "$WORK/dk-d"; D_SOCK=$DOCKERD_SOCK; D_PID=$DOCKERD_PID; PIDS+=("$D_PID"); DOCKERD_PID=
run g2 "$D_PID" bash -c '"$1" -H "unix://$2" load -q -i "$3" & "$1" -H "unix://$2" load -q -i "$4"; wait $!' \
    _ "$DOCKER" "$D_SOCK" "$WORK/big.tar" "$WORK/small.tar"
rm -f "$WORK/all.tar" "$WORK/big.tar" "$WORK/small.tar"
# (g3) the Engine's other way in: its own pulls, four at once, into a fifth dockerd.
start_dockerd "$WORK/dk-e"; E_SOCK=$DOCKERD_SOCK; E_PID=$DOCKERD_PID; PIDS+=("$E_PID"); DOCKERD_PID=
run g3 "$E_PID" bash -c 'xargs -P 4 -n 1 "$1" -H "unix://$2" pull -q <"$3"' _ "$DOCKER" "$E_SOCK" "$WORK/refs"

log "loading $DF_EXTRA more images into dockerd A for df"
printf "$REG/bench/%s:1.0\n" "${extra[@]}" | xargs "$IMAGECTL" --store "docker:unix://$A_SOCK" pull -q >/dev/null
count=$("$DOCKER" -H "unix://$A_SOCK" images -q | wc -l)
log "(e) imagectl df -v, (f) docker system df -v: $count images"
run e "$A_PID" "$IMAGECTL" --store "docker:unix://$A_SOCK" df -v
run f "$A_PID" "$DOCKER" -H "unix://$A_SOCK" system df -v

# --- report -------------------------------------------------------------------------------------
ratio() { awk -v i="$1" -v s="$2" 'BEGIN { if (i > 0) printf "%.1fx", s / i; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
field() { awk -v i="$2" '{ print $i }' "$WORK/$1.time"; }
echo
printf 'imagectl: %s\ndocker:   %s\nmachine:  %s cores, %s\n\n' \
    "$("$IMAGECTL" --version)" "$("$DOCKER" --version)" "$(nproc)" "$(uname -sr)"
printf '%-40s %11s %11s %14s %18s\n' run "imagectl s" "docker s" "docker/imagectl" "imagectl peak RSS"
row() { printf '%-40s %11s %11s %14s %18s\n' "$1" "$(field "$2" 1)" "$(field "$3" 1)" \
    "$(ratio "$(field "$2" 1)" "$(field "$3" 1)")" "$(mib "$(field "$2" 2)")"; }
row "first: $N small + 1x$((BIG_LAYERS * BIG_LAYER_MIB)) MiB" a b
row "again, every image present" c d
row "df -v, $count images" e f
printf '%-40s %11s   (one docker load of the same images from a local file: the Engine registering layers)\n' \
    "Engine's share of the first run" "$(field g 1)"
printf '%-40s %11s   (two such loads at once, large | small: the Engine'"'"'s floor for any tool)\n' \
    "Engine's share, two streams" "$(field g2 1)"
printf '%-40s %11s   (the Engine'"'"'s own pulls, four at once: its other way in)\n' \
    "Engine's pulls, four at once" "$(field g3 1)"
awk -v b="$(field b 1)" -v g="$(field g 1)" -v g2="$(field g2 1)" -v g3="$(field g3 1)" -v a="$(field a 1)" 'BEGIN {
    f = (g2 < g ? g2 : g); f = (g3 < f ? g3 : f)
    printf "Engine floor %.2f s (the fastest of the three): the docker pull loop is %.1fx it, so no tool that goes through the Engine can be more than %.1fx faster than the loop; imagectl is %.2fx the floor\n",
        f, b / f, b / f, a / f }'

echo
printf '%-28s %10s %10s %10s %10s %14s\n' "CPU seconds" tool dockerd registry sum "sum / $(nproc) cores"
cpu_row() { # LABEL RUN
    local dk rg
    read -r dk rg <"$WORK/$2.cpu"
    awk -v l="$1" -v u="$(field "$2" 3)" -v s="$(field "$2" 4)" -v dk="$dk" -v rg="$rg" -v n="$(nproc)" \
        'BEGIN { t = u + s; sum = t + dk + rg; printf "%-28s %10.2f %10.2f %10.2f %10.2f %14.2f\n", l, t, dk, rg, sum, sum / n }'
}
cpu_row "imagectl, first" a
cpu_row "docker pull loop, first" b
cpu_row "imagectl, nothing new" c
cpu_row "docker pull loop, present" d
cpu_row "imagectl df -v" e
cpu_row "docker system df -v" f
cpu_row "docker load from a file" g
cpu_row "two docker loads at once" g2
cpu_row "docker pulls, four at once" g3
echo "(the docker CLI's own CPU counts as tool; dockerd's containerd is not involved in classic-store pulls)"
