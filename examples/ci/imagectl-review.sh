#!/usr/bin/env bash
# The review of a policy pull request, as one Markdown comment on stdout: what the change
# does to the wanted images and settings (`imagectl diff`), then the exact plan for each
# reference host whose last run report is in REPORT_DIR (`imagectl plan --state`).
#
#   imagectl-review.sh BASE_POLICY HEAD_POLICY [REPORT_DIR] > review.md
#
# Exit 1 when imagectl failed (a policy does not load, an entry cannot be resolved, a
# registry cannot be reached), else 0: changes (imagectl's exit 2) are what review is for,
# not a failed check. Copy it into the policy repository beside the CI job that calls it.
set -uo pipefail

base=$1 head=$2 reports=${3:-}
imagectl=${IMAGECTL:-imagectl}

states=()
if [[ -n $reports && -d $reports ]]; then
    shopt -s nullglob
    for f in "$reports"/*.json; do states+=(--state "$f"); done
fi

failed=0
"$imagectl" diff "$base" "$head" "${states[@]}" --format markdown
[[ $? -eq 1 ]] && failed=1
if ((${#states[@]})); then
    echo
    "$imagectl" plan -f "$head" "${states[@]}" --format markdown --detailed-exitcode
    [[ $? -eq 1 ]] && failed=1
fi
exit "$failed"
