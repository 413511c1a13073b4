#!/usr/bin/env bash
# No-op apply benchmark: a policy declaring TAGS (default 300) tags that are already in the
# store. Times `imagectl apply` (which should cost one manifest HEAD per tag and write
# nothing) and, in the same run on the same registry, `skopeo copy` of each of those tags
# into an OCI layout that already holds them (skopeo 1.9's `sync` refuses to write into an
# existing directory). Prints both wall times and the ratio.
#
#   benches/apply-noop.sh                      # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl TAGS=300 benches/apply-noop.sh
#
# Needs docker-registry, skopeo, python3 and GNU time (installed when missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

TAGS=${TAGS:-300}
REPOS=${REPOS:-3}
PUSH_JOBS=${PUSH_JOBS:-4}
ensure_packages
ensure_imagectl

WORK=$(mktemp -d -t imagectl-bench-apply.XXXXXX)
cleanup() {
    stop_registry
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
start_registry "$WORK/registry" true
HOST=$REG_HOST
log "registry on $HOST (pid $REG_PID)"

L=$WORK/layout
log "building $TAGS small images (scripts/mkoci.py)"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$TAGS" --prefix img- >"$WORK/refs"
mapfile -t names < <(cut -d' ' -f1 "$WORK/refs")

# Image i goes to bench/repoK:vI (K = i mod REPOS), so each repository has TAGS/REPOS tags.
targets=()
for i in "${!names[@]}"; do targets+=("${names[$i]} bench/repo$((i % REPOS)):v$i"); done
push() { # LAYOUT-REF REPO:TAG
    skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:$1" "docker://$HOST/$2" 2>/dev/null ||
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$L:$1" "docker://$HOST/$2"
}
export -f push
export L HOST
log "pushing $TAGS tags to $HOST"
push ${targets[0]}
printf '%s\n' "${targets[@]:1}" | xargs -P "$PUSH_JOBS" -L1 bash -c 'push "$1" "$2"' _

policy=$WORK/policy.yaml
{
    echo "version: 1"
    echo "images:"
    for k in $(seq 0 $((REPOS - 1))); do
        echo "  - name: $HOST/bench/repo$k"
        echo "    tags:"
        for i in "${!names[@]}"; do
            if ((i % REPOS == k)); then echo "      - v$i"; fi
        done
    done
} >"$policy"

log "populating both stores"
"$IMAGECTL" --store "$WORK/s1" apply -f "$policy" --yes >/dev/null
refs=()
for t in "${targets[@]}"; do refs+=("$HOST/${t#* }"); done
for r in "${refs[@]}"; do
    skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$r" "oci:$WORK/s2:$r"
done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

log "(a) imagectl apply, nothing changed upstream"
before=$(cd "$WORK/s1" && find . -type f -newer "$policy" | wc -l)
t0=$(now)
"$IMAGECTL" --store "$WORK/s1" apply -f "$policy" --yes >"$WORK/apply.out"
t1=$(now)
grep -q "No changes" "$WORK/apply.out" || { cat "$WORK/apply.out" >&2; exit 1; }
a_wall=$(elapsed "$t0" "$t1")

log "(b) skopeo copy of each tag into the layout that holds them"
t0=$(now)
for r in "${refs[@]}"; do
    skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$r" "oci:$WORK/s2:$r"
done
t1=$(now)
b_wall=$(elapsed "$t0" "$t1")

echo
printf 'imagectl: %s\nskopeo:   %s\nmachine:  %s cores, %s\n\n' \
    "$("$IMAGECTL" --version)" "$(skopeo --version)" "$(nproc)" "$(uname -sr)"
printf '%-44s %12s %12s %16s\n' set "imagectl s" "skopeo s" "skopeo/imagectl"
printf '%-44s %12s %12s %16s\n' "no-op: $TAGS declared tags in $REPOS repositories" "$a_wall" "$b_wall" \
    "$(awk -v i="$a_wall" -v s="$b_wall" 'BEGIN { printf "%.1fx", s / i }')"
