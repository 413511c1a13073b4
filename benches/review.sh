#!/usr/bin/env bash
# Review benchmark: a pull request that changes one entry of a policy of REPOS (default 20)
# selector entries, over TAGS (default 10) semver tags each. Counts the registry requests
# and times `imagectl diff OLD NEW` against its naive peer, `imagectl plan` of each version
# against an empty store (what a CI job planning "against a fresh runner" does), in the
# same run on the same registry, and prints both and the ratios. An entry both versions
# share is expanded once by diff, so diff should cost about one plan.
#
#   benches/review.sh                          # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl REPOS=20 TAGS=10 benches/review.sh
#
# Needs docker-registry, skopeo and python3 (installed when missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

REPOS=${REPOS:-20}
TAGS=${TAGS:-10}
ensure_packages
ensure_imagectl

WORK=$(mktemp -d -t imagectl-bench-review.XXXXXX)
cleanup() {
    stop_registry
    rm -rf "$WORK"
}
trap cleanup EXIT
start_registry "$WORK/registry"
HOST=$REG_HOST
log "registry on $HOST (pid $REG_PID)"

L=$WORK/layout
python3 "$ROOT/scripts/mkoci.py" many "$L" --count "$TAGS" --prefix img- >"$WORK/refs"
mapfile -t names < <(cut -d' ' -f1 "$WORK/refs")
log "pushing $TAGS tags to each of $REPOS repositories"
for k in $(seq 0 $((REPOS - 1))); do
    for i in "${!names[@]}"; do
        skopeo --insecure-policy copy --quiet --dest-tls-verify=false \
            "oci:$L:${names[$i]}" "docker://$HOST/bench/repo$k:1.$i.0"
    done
done

policy() { # FILE KEEP_OF_REPO0
    {
        echo "version: 1"
        echo "images:"
        for k in $(seq 0 $((REPOS - 1))); do
            echo "  - name: $HOST/bench/repo$k"
            echo "    semver: \">=1.0.0\""
            if ((k == 0)); then echo "    keep: $2"; else echo "    keep: 3"; fi
        done
    } >"$1"
}
policy "$WORK/old.yaml" 3
policy "$WORK/new.yaml" 2

requests() { grep -cE '"(GET|HEAD) /v2/[^ ]' "$WORK/registry/access.log" || true; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

log "(a) imagectl diff OLD NEW"
r0=$(requests)
t0=$(now)
code=0
"$IMAGECTL" --store "$WORK/unused" diff "$WORK/old.yaml" "$WORK/new.yaml" >"$WORK/diff.out" || code=$?
t1=$(now)
[[ $code -eq 2 ]] || { cat "$WORK/diff.out"; echo "diff exited $code, expected 2" >&2; exit 1; }
sleep 0.5
diff_requests=$(($(requests) - r0))
diff_s=$(elapsed "$t0" "$t1")

log "(b) imagectl plan OLD; imagectl plan NEW (each against an empty store)"
r0=$(requests)
t0=$(now)
"$IMAGECTL" --store "$WORK/empty1" plan -f "$WORK/old.yaml" >/dev/null
"$IMAGECTL" --store "$WORK/empty2" plan -f "$WORK/new.yaml" >/dev/null
t1=$(now)
sleep 0.5
plans_requests=$(($(requests) - r0))
plans_s=$(elapsed "$t0" "$t1")

tail -1 "$WORK/diff.out"
printf 'diff:      %5d registry requests, %ss\n' "$diff_requests" "$diff_s"
printf 'two plans: %5d registry requests, %ss\n' "$plans_requests" "$plans_s"
awk -v a="$diff_requests" -v b="$plans_requests" -v c="$diff_s" -v d="$plans_s" \
    'BEGIN { printf "ratio diff/two plans: requests %.2f, time %.2f\n", a / b, c / d }'
