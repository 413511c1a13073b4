#!/usr/bin/env bash
# Mirror benchmark: one large image pulled through a pull-through-cache mirror on loopback,
# imagectl against skopeo through the same mirror, in one run.
#
#   upstream registry  <-  mirror (docker-registry with proxy.remoteurl = upstream)
#
#   (0) imagectl pull, cold cache: the mirror fetches from the upstream while it serves
#   (a) imagectl pull, warm cache: UPSTREAM/bench/big:1.0, the mirror given in --config
#   (b) skopeo copy docker://MIRROR/bench/big:1.0 oci:DIR, warm cache
#
# Prints wall times, MiB/s, the ratio skopeo/imagectl of the warm runs, peak RSS, and the CPU
# time of the tool, the upstream and the mirror in each run (the registries' from /proc).
#
#   benches/mirror-pull.sh                             # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/mirror-pull.sh  # use that binary, no build
#   LAYERS=8 LAYER_MIB=128 benches/mirror-pull.sh      # the defaults: a 1 GiB image
#   KEEP=1 benches/mirror-pull.sh                      # keep the temp dir (path printed)
#
# Needs docker-registry, skopeo, python3 and GNU time (/usr/bin/time); about 5 x the image's
# size of free space under $TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

LAYERS=${LAYERS:-8}
LAYER_MIB=${LAYER_MIB:-128}

ensure_packages
command -v python3 >/dev/null || { echo "python3 is needed to build the image" >&2; exit 1; }
ensure_imagectl

WORK=$(mktemp -d -t imagectl-mirror-bench.XXXXXX)
UP_PID=
MIRROR_PID=
cleanup() {
    for pid in $MIRROR_PID $UP_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Access logs stay on: they show who fetched what (checked below).
start_registry "$WORK/upstream"
UP_PID=$REG_PID
UP=$REG_HOST
REG_PID=
start_registry "$WORK/mirror" false "proxy:
  remoteurl: http://$UP"
MIRROR_PID=$REG_PID
MIRROR=$REG_HOST
REG_PID=
log "upstream on $UP (pid $UP_PID), pull-through mirror on $MIRROR (pid $MIRROR_PID)"

L=$WORK/layout
log "building one image of ${LAYERS}x${LAYER_MIB} MiB (scripts/mkoci.py)"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$LAYERS" --layer-mib "$LAYER_MIB" >/dev/null
log "pushing it to the upstream"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:big" "docker://$UP/bench/big:1.0"

CONFIG=$WORK/registries.yaml
cat >"$CONFIG" <<YAML
registries:
  "$UP":
    mirrors: ["http://$MIRROR"]
YAML

timed() { # OUTFILE CMD... : "wall-seconds max-rss-KiB tool-cpu-s upstream-cpu-s mirror-cpu-s"
    local out=$1 u0 m0
    shift
    u0=$(cpu_s "$UP_PID")
    m0=$(cpu_s "$MIRROR_PID")
    /usr/bin/time -f '%e %M %U %S' -o "$out.gnu" "$@"
    read -r wall rss user sys <"$out.gnu"
    awk -v w="$wall" -v r="$rss" -v u="$user" -v s="$sys" -v u0="$u0" -v u1="$(cpu_s "$UP_PID")" \
        -v m0="$m0" -v m1="$(cpu_s "$MIRROR_PID")" \
        'BEGIN { printf "%s %s %.2f %.2f %.2f\n", w, r, u + s, u1 - u0, m1 - m0 }' >"$out"
}

log "(0) imagectl pull through the cold mirror"
timed "$WORK/0.time" "$IMAGECTL" --config "$CONFIG" --store "$WORK/s0" -v pull -q "$UP/bench/big:1.0" \
    >/dev/null 2>"$WORK/0.log"
grep -q "from mirror http://$MIRROR" "$WORK/0.log" ||
    { echo "the mirror did not serve the pull:" >&2; cat "$WORK/0.log" >&2; exit 1; }
rm -rf "$WORK/s0"

sync
log "(a) imagectl pull through the warm mirror"
timed "$WORK/a.time" "$IMAGECTL" --config "$CONFIG" --store "$WORK/s1" pull -q "$UP/bench/big:1.0" >/dev/null

sync
log "(b) skopeo copy through the warm mirror"
timed "$WORK/b.time" skopeo --insecure-policy copy --quiet --src-tls-verify=false \
    "docker://$MIRROR/bench/big:1.0" "oci:$WORK/s2:big"

# Both sides hold the image; imagectl never sent a request to the upstream itself.
skopeo --insecure-policy inspect --raw "oci:$WORK/s1:$UP/bench/big:1.0" >/dev/null
skopeo --insecure-policy inspect --raw "oci:$WORK/s2:big" >/dev/null
if grep -q '"imagectl/' "$WORK/upstream/access.log"; then
    echo "imagectl sent requests to the upstream, not the mirror" >&2
    exit 1
fi

read -r c_wall c_rss c_cpu c_up c_mirror <"$WORK/0.time"
read -r a_wall a_rss a_cpu a_up a_mirror <"$WORK/a.time"
read -r b_wall b_rss b_cpu b_up b_mirror <"$WORK/b.time"
mib=$((LAYERS * LAYER_MIB))
rate() { awk -v s="$1" -v m="$mib" 'BEGIN { if (s > 0) printf "%.0f MiB/s", m / s; else print "n/a" }'; }
rss() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v i="$1" -v s="$2" 'BEGIN { if (i > 0) printf "%.2fx", s / i; else print "n/a" }'; }

echo
printf 'imagectl: %s\nskopeo:   %s\nmachine:  %s cores, %s\nimage:    %s layers x %s MiB = %s MiB\n\n' \
    "$("$IMAGECTL" --version 2>/dev/null || echo "$IMAGECTL")" "$(skopeo --version)" \
    "$(nproc)" "$(uname -sr)" "$LAYERS" "$LAYER_MIB" "$mib"
# CPU columns: the tool, the upstream and the mirror, all sharing this machine's cores; their
# sum over the cores is the shortest wall time the run could have had here.
printf '%-30s %8s %12s %12s %9s %9s %9s %11s\n' run "wall s" throughput "peak RSS" \
    "tool cpu" "upstream" "mirror" "sum/cores"
row() { # LABEL WALL RSS CPU UP MIRROR
    printf '%-30s %8s %12s %12s %9s %9s %9s %11s\n' "$1" "$2" "$(rate "$2")" "$(rss "$3")" "$4" "$5" "$6" \
        "$(awk -v a="$4" -v b="$5" -v c="$6" -v n="$(nproc)" 'BEGIN { printf "%.2f", (a + b + c) / n }')"
}
row "imagectl pull, cold mirror" "$c_wall" "$c_rss" "$c_cpu" "$c_up" "$c_mirror"
row "imagectl pull, warm mirror" "$a_wall" "$a_rss" "$a_cpu" "$a_up" "$a_mirror"
row "skopeo copy, warm mirror" "$b_wall" "$b_rss" "$b_cpu" "$b_up" "$b_mirror"
printf '\nskopeo/imagectl wall time (warm mirror): %s\n' "$(ratio "$a_wall" "$b_wall")"
