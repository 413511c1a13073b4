#!/usr/bin/env bash
# Replication benchmark: imagectl against `skopeo sync`, same images, one run.
#
# A plain-HTTP source registry holds N small images (sharing a base layer) and one large
# image (BIG_LAYERS x BIG_LAYER_MIB MiB). Two TLS registries with htpasswd auth (a CA made
# here) are the targets, one per tool, so neither finds the other's blobs:
#
#   (a) imagectl apply of a policy declaring every image with `replicate: - to: TARGET/mirror`
#       (first run: pulls into a fresh store, then pushes)
#   (b) skopeo sync --src yaml --dest docker of the same images and tags to TARGET/mirror
#   (c) the same imagectl apply again: nothing new
#   (d) the same skopeo sync again: nothing new
#   (e) imagectl again with --no-referrers: what looking for new signatures costs a no-op
#       (skopeo sync looks for none)
#
# Prints wall times, the ratios skopeo/imagectl, peak RSS (GNU time's %M), and the CPU time
# of each tool and of the two registries it talked to (the registries' from /proc).
#
#   benches/replicate.sh                              # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl benches/replicate.sh   # use that binary, no build
#   N=300 BIG_LAYERS=4 BIG_LAYER_MIB=128 benches/replicate.sh   # the defaults
#   KEEP=1 benches/replicate.sh                       # keep the temp dir (path printed)
#
# Needs docker-registry, skopeo, openssl, htpasswd (apache2-utils), python3 and GNU time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

N=${N:-300}
BIG_LAYERS=${BIG_LAYERS:-4}
BIG_LAYER_MIB=${BIG_LAYER_MIB:-128}
PUSH_JOBS=${PUSH_JOBS:-4}
USER_NAME=bench
export BENCH_PASSWORD=bench-secret-1

ensure_packages
command -v python3 >/dev/null || { echo "python3 is needed to build the images" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is needed for the TLS registries" >&2; exit 1; }
ensure_imagectl

WORK=$(mktemp -d -t imagectl-bench-repl.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

start_registry "$WORK/source" true
SRC=$REG_HOST; SRC_PID=$REG_PID; PIDS+=("$REG_PID"); REG_PID=
start_secure_registry "$WORK/target-a" "$USER_NAME" "$BENCH_PASSWORD"
TA=$REG_HOST; TA_CA=$REG_CA; TA_PID=$REG_PID; PIDS+=("$REG_PID"); REG_PID=
start_secure_registry "$WORK/target-b" "$USER_NAME" "$BENCH_PASSWORD"
TB=$REG_HOST; TB_CA=$REG_CA; TB_PID=$REG_PID; PIDS+=("$REG_PID"); REG_PID=
log "source $SRC (http), imagectl target $TA (TLS+auth), skopeo target $TB (TLS+auth)"

# --- images -------------------------------------------------------------------------------------
L=$WORK/layout
log "building $N small images and one ${BIG_LAYERS}x${BIG_LAYER_MIB} MiB image (scripts/mkoci.py)"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$N" --prefix app- >"$WORK/small.refs"
python3 "$ROOT/scripts/mkoci.py" big "$L" --ref big --layers "$BIG_LAYERS" --layer-mib "$BIG_LAYER_MIB" >/dev/null
push() {
    local src="oci:$L:$1" dst="docker://$SRC/bench/$1:1.0"
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst" 2>/dev/null ||
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$src" "$dst"
}
export -f push
export L SRC
mapfile -t names < <(cut -d' ' -f1 "$WORK/small.refs")
names+=(big)
log "pushing $((N + 1)) images to the source"
push "${names[0]}"
printf '%s\n' "${names[@]:1}" | xargs -P "$PUSH_JOBS" -I{} bash -c 'push "$1"' _ {}

# --- the two configurations ---------------------------------------------------------------------
POLICY=$WORK/policy.yaml
{
    echo "version: 1"
    echo "store: { path: $WORK/store }"
    echo "registries:"
    echo "  \"$TA\": { ca_file: $TA_CA, username: $USER_NAME, password_env: BENCH_PASSWORD }"
    echo "defaults: { platforms: [linux/amd64] }"
    echo "images:"
    for n in "${names[@]}"; do echo "  - { name: $SRC/bench/$n, tags: [\"1.0\"] }"; done
    echo "replicate:"
    echo "  - to: $TA/mirror"
} >"$POLICY"
SYNC=$WORK/sync.yaml
{
    echo "$SRC:"
    echo "  tls-verify: false"
    echo "  images:"
    for n in "${names[@]}"; do echo "    bench/$n: [\"1.0\"]"; done
} >"$SYNC"
mkdir -p "$WORK/skopeo-certs"
cp "$TB_CA" "$WORK/skopeo-certs/ca.crt"
sync_b() {
    skopeo --insecure-policy sync --src yaml --dest docker \
        --dest-cert-dir "$WORK/skopeo-certs" --dest-creds "$USER_NAME:$BENCH_PASSWORD" \
        "$SYNC" "$TB/mirror"
}
export -f sync_b
export WORK USER_NAME SYNC TB

timed() { local out=$1; shift; /usr/bin/time -f '%e %M %U %S' -o "$out" "$@"; }
run() { # NAME TARGET-PID CMD... : time CMD, its output in WORK/NAME.log, fail loudly; the
    #                            source's and the target's CPU for it in WORK/NAME.cpu
    local name=$1 target_pid=$2 s0 t0; shift 2
    s0=$(cpu_s "$SRC_PID"); t0=$(cpu_s "$target_pid")
    timed "$WORK/$name.time" "$@" >"$WORK/$name.log" 2>&1 || { tail -20 "$WORK/$name.log" >&2; exit 1; }
    awk -v s0="$s0" -v s1="$(cpu_s "$SRC_PID")" -v t0="$t0" -v t1="$(cpu_s "$target_pid")" \
        'BEGIN { printf "%.2f %.2f\n", s1 - s0, t1 - t0 }' >"$WORK/$name.cpu"
}

log "(a) imagectl apply: pull and replicate $((N + 1)) images"
run a "$TA_PID" "$IMAGECTL" apply --yes -f "$POLICY"
log "(b) skopeo sync: $((N + 1)) images"
run b "$TB_PID" bash -c sync_b
log "(c) imagectl apply again: nothing new"
run c "$TA_PID" "$IMAGECTL" apply --yes -f "$POLICY"
log "(d) skopeo sync again: nothing new"
run d "$TB_PID" bash -c sync_b
log "(e) imagectl apply again without looking for referrers"
run e "$TA_PID" "$IMAGECTL" apply --yes --no-referrers -f "$POLICY"

# --- sanity: both targets hold every image, digests as at the source -----------------------------
mkdir -p "$WORK/certs-a"
cp "$TA_CA" "$WORK/certs-a/ca.crt"
check() { # TARGET-REPO CERT-DIR NAME
    local d_src d_dst
    d_src=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$SRC/bench/$3:1.0")
    d_dst=$(skopeo inspect --cert-dir "$2" --creds "$USER_NAME:$BENCH_PASSWORD" \
        --format '{{.Digest}}' "docker://$1/$3:1.0")
    [[ $d_src == "$d_dst" ]] || { echo "$1/$3:1.0 is $d_dst, source $d_src" >&2; exit 1; }
}
# imagectl keeps the source path (TARGET/mirror/bench/NAME); skopeo sync without --scoped
# keeps the last component (TARGET/mirror/NAME).
for n in "${names[0]}" "${names[$((N - 1))]}" big; do
    check "$TA/mirror/bench" "$WORK/certs-a" "$n"
    check "$TB/mirror" "$WORK/skopeo-certs" "$n"
done
grep -q "Replicated: $((N + 1)) pushed" "$WORK/a.log" || { cat "$WORK/a.log" >&2; exit 1; }
grep -q "No changes" "$WORK/c.log" || { cat "$WORK/c.log" >&2; exit 1; }

# --- report -------------------------------------------------------------------------------------
read -r a_wall a_rss a_user a_sys <"$WORK/a.time"
read -r b_wall b_rss b_user b_sys <"$WORK/b.time"
read -r c_wall c_rss c_user c_sys <"$WORK/c.time"
read -r e_wall e_rss e_user e_sys <"$WORK/e.time"
read -r d_wall d_rss d_user d_sys <"$WORK/d.time"
ratio() { awk -v i="$1" -v s="$2" 'BEGIN { if (i > 0) printf "%.1fx", s / i; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo
printf 'imagectl: %s\nskopeo:   %s\nmachine:  %s cores, %s\n\n' \
    "$("$IMAGECTL" --version)" "$(skopeo --version)" "$(nproc)" "$(uname -sr)"
printf '%-44s %12s %12s %16s %18s %16s\n' run "imagectl s" "skopeo s" "skopeo/imagectl" "imagectl peak RSS" "skopeo peak RSS"
printf '%-44s %12s %12s %16s %18s %16s\n' "first: $N small + 1x$((BIG_LAYERS * BIG_LAYER_MIB)) MiB" \
    "$a_wall" "$b_wall" "$(ratio "$a_wall" "$b_wall")" "$(mib "$a_rss")" "$(mib "$b_rss")"
printf '%-44s %12s %12s %16s %18s %16s\n' "again, nothing new" \
    "$c_wall" "$d_wall" "$(ratio "$c_wall" "$d_wall")" "$(mib "$c_rss")" "$(mib "$d_rss")"
printf '%-44s %12s %12s %16s %18s %16s\n' "again, nothing new, --no-referrers" \
    "$e_wall" "$d_wall" "$(ratio "$e_wall" "$d_wall")" "$(mib "$e_rss")" "$(mib "$d_rss")"
echo "(imagectl's first run also pulls every image into its store; skopeo copies registry to registry)"
echo
# Where the CPU went. The tool, the source and the target share this machine's cores; the
# sum over the cores is the shortest wall time that run could have had here.
printf '%-28s %10s %10s %10s %10s %14s\n' "CPU seconds" tool source target sum "sum / $(nproc) cores"
cpu_row() { # LABEL USER SYS CPUFILE
    local src tgt
    read -r src tgt <"$4"
    awk -v l="$1" -v u="$2" -v s="$3" -v src="$src" -v tgt="$tgt" -v n="$(nproc)" \
        'BEGIN { t = u + s; sum = t + src + tgt; printf "%-28s %10.2f %10.2f %10.2f %10.2f %14.2f\n", l, t, src, tgt, sum, sum / n }'
}
cpu_row "imagectl, first run" "$a_user" "$a_sys" "$WORK/a.cpu"
cpu_row "skopeo, first run" "$b_user" "$b_sys" "$WORK/b.cpu"
cpu_row "imagectl, nothing new" "$c_user" "$c_sys" "$WORK/c.cpu"
cpu_row "skopeo, nothing new" "$d_user" "$d_sys" "$WORK/d.cpu"
cpu_row "imagectl, --no-referrers" "$e_user" "$e_sys" "$WORK/e.cpu"
