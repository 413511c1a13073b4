#!/usr/bin/env bash
# Pull benchmark: imagectl against skopeo, same registry, same images, one run.
#
#   (a) imagectl pull -q of N small images sharing a base layer, in one command
#   (b) skopeo copy of the same N images, one command per image, into one OCI layout
#   (c) imagectl pull of one large image (BIG_LAYERS x BIG_LAYER_MIB MiB of random data)
#   (d) skopeo copy of that image into a fresh OCI layout
#
# Prints wall times, the ratio skopeo/imagectl and peak RSS (GNU time's %M).
#
#   benches/pull.sh                                  # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/pull.sh       # use that binary, no build
#   N=100 BIG_LAYERS=4 BIG_LAYER_MIB=128 benches/pull.sh   # the defaults
#   KEEP=1 benches/pull.sh                           # keep the temp dir (path printed)
#
# Needs docker-registry, skopeo, python3 and GNU time (/usr/bin/time, Debian package `time`);
# about 4 x the large image's size of free space under $TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

N=${N:-100}
BIG_LAYERS=${BIG_LAYERS:-4}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-128}
PUSH_JOBS=${PUSH_JOBS:-4}

ensure_packages
command -v python3 >/dev/null || { echo "python3 is needed to build the images" >&2; exit 1; }

ensure_imagectl

WORK=$(mktemp -d -t imagectl-bench.XXXXXX)
cleanup() {
    stop_registry
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The access log is off: it would only cost time in both runs.
start_registry "$WORK/registry" true
HOST=$REG_HOST
log "registry on $HOST (pid $REG_PID)"

# --- images -------------------------------------------------------------------------------------
L=$WORK/layout
log "building $N small images and one ${BIG_LAYERS}x${BIG_LAYER_MIB} MiB image (scripts/mkoci.py)"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$N" --prefix app- >"$WORK/small.refs"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$BIG_LAYERS" --layer-mib "$BIG_LAYER_MIB" >/dev/null

push() { # LAYOUT-REF -> bench/LAYOUT-REF:1.0 (one retry: parallel uploads of one blob may race)
    local src="oci:$L:$1" dst="docker://$HOST/bench/$1:1.0"
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst" 2>/dev/null ||
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst"
}
export -f push
export L HOST
log "pushing to $HOST"
mapfile -t names < <(cut -d' ' -f1 "$WORK/small.refs")
push "${names[0]}" # the shared base layer goes up once, before the parallel pushes
printf '%s\n' "${names[@]:1}" | xargs -P "$PUSH_JOBS" -I{} bash -c 'push "$1"' _ {}
push big

refs=()
for n in "${names[@]}"; do refs+=("$HOST/bench/$n:1.0"); done
BIG=$HOST/bench/big:1.0

# --- runs -----------------------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# timed OUTFILE CMD... : GNU time writes "wall-seconds max-rss-KiB" to OUTFILE
timed() {
    local out=$1
    shift
    /usr/bin/time -f '%e %M' -o "$out" "$@"
}

log "(a) imagectl pull -q: $N images"
timed "$WORK/a.time" "$IMAGECTL" --store "$WORK/s1" pull -q "${refs[@]}" >/dev/null

log "(b) skopeo copy: $N images, one by one"
t0=$(now)
for r in "${refs[@]}"; do
    skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$r" "oci:$WORK/s2:$r"
done
t1=$(now)
b_wall=$(elapsed "$t0" "$t1")

log "(c) imagectl pull -q: $BIG"
timed "$WORK/c.time" "$IMAGECTL" --store "$WORK/s3" pull -q "$BIG" >/dev/null

log "(d) skopeo copy: $BIG"
timed "$WORK/d.time" skopeo --insecure-policy copy --quiet --src-tls-verify=false \
    "docker://$BIG" "oci:$WORK/s4:$BIG"

# --- sanity: both sides hold every image --------------------------------------------------------
count_refs() { grep -o '"org.opencontainers.image.ref.name"' "$1/index.json" | wc -l; }
[[ $(count_refs "$WORK/s1") -ge $N ]] || { echo "imagectl store holds $(count_refs "$WORK/s1") of $N refs" >&2; exit 1; }
[[ $(count_refs "$WORK/s2") -eq $N ]] || { echo "skopeo layout holds $(count_refs "$WORK/s2") of $N refs" >&2; exit 1; }
skopeo --insecure-policy inspect --raw "oci:$WORK/s3:$BIG" >/dev/null

# --- report -----------------------------------------------------------------------------------
read -r a_wall a_rss <"$WORK/a.time"
read -r c_wall c_rss <"$WORK/c.time"
read -r d_wall d_rss <"$WORK/d.time"
ratio() { awk -v i="$1" -v s="$2" 'BEGIN { if (i > 0) printf "%.1fx", s / i; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
big_mib=$((BIG_LAYERS * BIG_LAYER_MIB))

echo
printf 'imagectl: %s\nskopeo:   %s\nmachine:  %s cores, %s\n\n' \
    "$("$IMAGECTL" --version 2>/dev/null || echo "$IMAGECTL")" "$(skopeo --version)" \
    "$(nproc)" "$(uname -sr)"
printf '%-34s %12s %12s %16s %18s %18s\n' set "imagectl s" "skopeo s" "skopeo/imagectl" "imagectl peak RSS" "skopeo peak RSS"
printf '%-34s %12s %12s %16s %18s %18s\n' "$N small images (shared base)" "$a_wall" "$b_wall" \
    "$(ratio "$a_wall" "$b_wall")" "$(mib "$a_rss")" "(per process)"
printf '%-34s %12s %12s %16s %18s %18s\n' "1 image, $BIG_LAYERS layers, $big_mib MiB" "$c_wall" "$d_wall" \
    "$(ratio "$c_wall" "$d_wall")" "$(mib "$c_rss")" "$(mib "$d_rss")"
