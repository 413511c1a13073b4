#!/usr/bin/env bash
# docker-archive save of compressible gzip layers: imagectl save -o against docker save -o,
# and the decode floor, in one run.
#
# One image of LAYERS x LAYER_MIB MiB (uncompressed) of this host's /usr files, gzip -6 (about
# 2:1, like ordinary image content; scripts/mkoci.py big --content usr) is pushed to a local
# registry and pulled into an imagectl store and into a private dockerd (vfs). Then:
#
#   imagectl   imagectl save -o F IMAGE    (layers decoded into their places, every core)
#   docker     docker save -o F IMAGE      (dockerd 20.10 reads its own unpacked layers)
#   floor      every layer decoded at once, one thread each, with imagectl's inflate
#              (flate2 on zlib-rs), output discarded: benches/inflate_floor.rs; and the same
#              with sha256, which the save's diff_id check also needs
#
# Prints wall seconds, CPU seconds (user+sys; docker's includes dockerd's), docker/imagectl,
# imagectl/floor, and imagectl's peak RSS. Both archives load back to the same image ID.
#
#   benches/save.sh                              # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/save.sh   # use that binary
#   LAYERS=8 LAYER_MIB=128 benches/save.sh       # the defaults (1 GiB)
#   RUNS=3 benches/save.sh                       # best of 3 for each party (default 3)
#   FLOOR=/path/to/inflate_floor benches/save.sh # the floor program, already built
#
# Needs docker-registry, skopeo, docker.io, python3, GNU time; about 5 GiB under $TMPDIR.
# Not part of the test suite.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

LAYERS=${LAYERS:-8}
LAYER_MIB=${LAYER_MIB:-128}
RUNS=${RUNS:-3}

ensure_packages
ensure_imagectl
if [[ -z ${FLOOR:-} ]]; then
log "cargo bench --bench inflate_floor --no-run (the decode floor)"
FLOOR=$(cd "$ROOT" && cargo bench --bench inflate_floor --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "inflate_floor" and m.get("executable"):
        print(m["executable"])')
fi
[[ -x $FLOOR ]] || { echo "benches/inflate_floor.rs did not build" >&2; exit 1; }
floor() { "$FLOOR" "$@"; }

WORK=$(mktemp -d -t imagectl-save.XXXXXX)
DK=$(mktemp -d /tmp/ictl-sd.XXXXXX)
cleanup() {
    stop_registry
    stop_dockerd
    rm -rf "$DK" "$WORK"
}
trap cleanup EXIT

start_registry "$WORK/registry" true
start_dockerd "$DK"
dk() { DOCKER_CONFIG=$DK docker -H "unix://$DOCKERD_SOCK" "$@"; }

L=$WORK/layout
log "building ${LAYERS} x ${LAYER_MIB} MiB of /usr content, gzip -6 (a minute or two)"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$LAYERS" --layer-mib "$LAYER_MIB" \
    --content usr >/dev/null
mapfile -t BLOBS < <(python3 - "$L" <<'EOF'
import json, sys
root = sys.argv[1]
index = json.load(open(root + "/index.json"))
m = json.load(open(root + "/blobs/sha256/" + index["manifests"][0]["digest"].split(":")[1]))
for l in m["layers"]:
    print(root + "/blobs/sha256/" + l["digest"].split(":")[1])
EOF
)
BIG=$REG_HOST/bench/usr:1.0
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:big" "docker://$BIG"
"$IMAGECTL" --store "$WORK/store" pull -q "$BIG" >/dev/null
dk pull -q "$BIG" >/dev/null
compressed=$(du -cb "${BLOBS[@]}" | tail -1 | cut -f1)

# best NAME CMD...: the fastest of RUNS runs; WORK/NAME holds "wall cpu rss-KiB".
# CPU is the command's own (GNU time), plus dockerd's for docker's save.
best() {
    local name=$1 i wall cpu rss d0 d1
    shift
    for i in $(seq "$RUNS"); do
        rm -f "$WORK/out.tar"
        sync
        d0=$(cpu_s "$DOCKERD_PID")
        /usr/bin/time -f '%e %U %S %M' -o "$WORK/t" "$@"
        d1=$(cpu_s "$DOCKERD_PID")
        read -r wall u s rss <"$WORK/t"
        cpu=$(awk -v u="$u" -v s="$s" -v a="$d0" -v b="$d1" -v n="$name" \
            'BEGIN { printf "%.2f", u + s + (n == "docker" ? b - a : 0) }')
        if [[ ! -f $WORK/$name ]] || awk -v w="$wall" -v b="$(cut -d' ' -f1 "$WORK/$name")" 'BEGIN { exit !(w < b) }'; then
            echo "$wall $cpu $rss" >"$WORK/$name"
        fi
    done
}

log "imagectl save -o ($RUNS runs)"
best imagectl "$IMAGECTL" --store "$WORK/store" save -o "$WORK/out.tar" "$BIG"
cp "$WORK/out.tar" "$WORK/imagectl.tar"
log "docker save -o ($RUNS runs)"
best docker docker -H "unix://$DOCKERD_SOCK" save -o "$WORK/out.tar" "$BIG"
log "the decode floor ($RUNS runs)"
floor_decode=9999 floor_hash=9999
for _ in $(seq "$RUNS"); do
    out=$(floor "${BLOBS[@]}")
    d=$(awk '$1 == "decode" { print $2 }' <<<"$out")
    h=$(awk '$1 == "decode+sha256" { print $2 }' <<<"$out")
    floor_decode=$(awk -v a="$floor_decode" -v b="$d" 'BEGIN { print (b < a ? b : a) }')
    floor_hash=$(awk -v a="$floor_hash" -v b="$h" 'BEGIN { print (b < a ? b : a) }')
done

# The same image: docker loads imagectl's archive to the ID it has.
want=$(dk image inspect -f '{{.Id}}' "$BIG")
dk rmi -f "$BIG" >/dev/null
got=$(dk load -q -i "$WORK/imagectl.tar" | awk '{ print $NF }')
got=$(dk image inspect -f '{{.Id}}' "$BIG")
[[ $got == "$want" ]] || { echo "docker loaded imagectl's archive as $got, not $want" >&2; exit 1; }

read -r iw ic ir <"$WORK/imagectl"
read -r dw dc _ <"$WORK/docker"
echo
printf 'imagectl %s, docker %s, %s cores (%s)\n' "$("$IMAGECTL" --version | awk '{ print $2 }')" \
    "$(dk version -f '{{.Server.Version}}')" "$(nproc)" "$(uname -r)"
printf 'image: %s gzip layers, %s MiB uncompressed, %s MiB stored; best of %s runs\n\n' \
    "$LAYERS" "$((LAYERS * LAYER_MIB))" "$((compressed >> 20))" "$RUNS"
printf '%-30s %8s %8s\n' "" "wall s" "CPU s"
printf '%-30s %8s %8s\n' "imagectl save -o" "$iw" "$ic"
printf '%-30s %8s %8s\n' "docker save -o (CLI + dockerd)" "$dw" "$dc"
printf '%-30s %8s\n' "floor: decode, all at once" "$floor_decode"
printf '%-30s %8s\n' "floor: decode + sha256" "$floor_hash"
echo
awk -v i="$iw" -v d="$dw" -v f="$floor_decode" -v h="$floor_hash" -v r="$ir" 'BEGIN {
    printf "docker/imagectl %.2fx; imagectl/decode floor %.2f; imagectl/(decode+sha256) %.2f; imagectl peak RSS %.1f MiB\n",
        d / i, i / f, i / h, r / 1024 }'
