#!/usr/bin/env bash
# Many-image pull: REPOS repositories x TAGS tags (default 100 x 3 = 300 small images sharing a
# base layer), imagectl pull of all of them in one command against a loop of skopeo copy, one
# command per image (as a script would), same registry, one run. Where the time goes:
#
#   wall, CPU of the tool (user+sys; skopeo's summed over its processes) and of the registry
#   (from /proc, during that run), requests the registry served (its access log) per image,
#   and the floor: (tool CPU + registry CPU) / cores, what the run would take if both kept
#   every core busy and nothing waited.
#
#   benches/many.sh                              # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/many.sh   # use that binary
#   REPOS=100 TAGS=3 benches/many.sh             # the defaults
#
# Needs docker-registry, skopeo, python3 and GNU time. Not part of the test suite.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

REPOS=${REPOS:-100}
TAGS=${TAGS:-3}
N=$((REPOS * TAGS))
PUSH_JOBS=${PUSH_JOBS:-4}

ensure_packages
ensure_imagectl

WORK=$(mktemp -d -t imagectl-many.XXXXXX)
cleanup() {
    stop_registry
    rm -rf "$WORK"
}
trap cleanup EXIT

# The access log on: one line per request, counted per run.
start_registry "$WORK/registry" false
log "registry on $REG_HOST (pid $REG_PID)"

L=$WORK/layout
log "building $N images (scripts/mkoci.py many) and pushing them to $REPOS repositories x $TAGS tags"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$N" --prefix img- >"$WORK/refs"
mapfile -t names < <(cut -d' ' -f1 "$WORK/refs")
targets=()
for i in "${!names[@]}"; do
    targets+=("$REG_HOST/bench/r$((i / TAGS))-app:v$((i % TAGS))")
done
push() { # LAYOUT-REF TARGET (one retry: parallel uploads of one blob may race)
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:$1" "docker://$2" 2>/dev/null ||
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:$1" "docker://$2"
}
export -f push
export L
push "${names[0]}" "${targets[0]}"
for i in $(seq 1 $((N - 1))); do printf '%s %s\n' "${names[$i]}" "${targets[$i]}"; done |
    xargs -P "$PUSH_JOBS" -L1 bash -c 'push "$1" "$2"' _

# measure NAME CMD...: WORK/NAME holds "wall tool-cpu registry-cpu requests"
measure() {
    local name=$1 r0 r1 l0 l1 wall u s
    shift
    sync
    l0=$(wc -l <"$WORK/registry/access.log")
    r0=$(cpu_s "$REG_PID")
    /usr/bin/time -f '%e %U %S' -o "$WORK/t" "$@" >/dev/null
    r1=$(cpu_s "$REG_PID")
    l1=$(wc -l <"$WORK/registry/access.log")
    read -r wall u s <"$WORK/t"
    awk -v w="$wall" -v u="$u" -v s="$s" -v a="$r0" -v b="$r1" -v n=$((l1 - l0)) \
        'BEGIN { printf "%s %.2f %.2f %d\n", w, u + s, b - a, n }' >"$WORK/$name"
}

log "imagectl pull -q: $N images in one command"
measure imagectl "$IMAGECTL" --store "$WORK/s1" pull -q "${targets[@]}"
log "skopeo copy: $N images, one command each"
printf '%s\n' "${targets[@]}" >"$WORK/targets"
measure skopeo bash -c 'while read -r r; do
    skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$r" "oci:$1:$r"
done <"$2"' _ "$WORK/s2" "$WORK/targets"

count_refs() { grep -o '"org.opencontainers.image.ref.name"' "$1/index.json" | wc -l; }
for s in s1 s2; do
    [[ $(count_refs "$WORK/$s") -eq $N ]] || { echo "$s holds $(count_refs "$WORK/$s") of $N images" >&2; exit 1; }
done

read -r iw ic ir in <"$WORK/imagectl"
read -r sw sc sr sn <"$WORK/skopeo"
cores=$(nproc)
echo
printf 'imagectl %s, %s, %s cores; %s images in %s repositories x %s tags\n\n' \
    "$("$IMAGECTL" --version | awk '{ print $2 }')" "$(skopeo --version)" "$cores" "$N" "$REPOS" "$TAGS"
printf '%-10s %8s %10s %14s %10s %14s %12s\n' tool "wall s" "tool CPU" "registry CPU" requests "requests/img" "floor s"
row() {
    awk -v t="$1" -v w="$2" -v c="$3" -v r="$4" -v n="$5" -v img="$N" -v k="$cores" \
        'BEGIN { printf "%-10s %8.2f %10.2f %14.2f %10d %14.1f %12.2f\n", t, w, c, r, n, n / img, (c + r) / k }'
}
row imagectl "$iw" "$ic" "$ir" "$in"
row skopeo "$sw" "$sc" "$sr" "$sn"
echo
awk -v i="$iw" -v s="$sw" -v c="$ic" -v r="$ir" -v k="$cores" 'BEGIN {
    f = (c + r) / k
    printf "skopeo/imagectl %.1fx; imagectl/its floor %.2f (floor %.2f s)\n", s / i, i / f, f }'
