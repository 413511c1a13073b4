#!/usr/bin/env bash
# Post a review as the pull (merge) request's imagectl comment: update the comment that
# carries the marker, else create one. The marker is an HTML comment on the body's first
# line (invisible once rendered), so another workflow's or another bot's comment is never
# taken for ours, as `gh pr comment --edit-last` (the last comment of whoever the token is)
# would. Over the platforms' REST APIs with curl and jq.
#
#   GH_TOKEN=… GITHUB_REPOSITORY=org/repo PR=12 imagectl-comment.sh github review.md
#   IMAGECTL_REVIEW_TOKEN=… imagectl-comment.sh gitlab review.md   # in a merge request pipeline
#
# IMAGECTL_COMMENT_MARKER names another marker, for a second review kept in its own comment.
# GITHUB_API_URL (set by Actions; GitHub Enterprise too) and GitLab's CI_API_V4_URL,
# CI_PROJECT_ID and CI_MERGE_REQUEST_IID say where. Copy it beside imagectl-review.sh.
set -euo pipefail

platform=$1 file=$2
marker=${IMAGECTL_COMMENT_MARKER:-<!-- imagectl-review -->}

case $platform in
github)
    api=${GITHUB_API_URL:-https://api.github.com}
    auth=(--header "Authorization: Bearer $GH_TOKEN" --header "Accept: application/vnd.github+json")
    list="$api/repos/$GITHUB_REPOSITORY/issues/$PR/comments"
    one="$api/repos/$GITHUB_REPOSITORY/issues/comments"
    order=
    update=PATCH
    ;;
gitlab)
    api=$CI_API_V4_URL
    auth=(--header "PRIVATE-TOKEN: $IMAGECTL_REVIEW_TOKEN")
    list="$api/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"
    one=$list
    order='&sort=asc&order_by=created_at'
    update=PUT
    ;;
*)
    echo "imagectl-comment.sh: unknown platform '$platform' (github or gitlab)" >&2
    exit 1
    ;;
esac

call() { curl --fail --silent --show-error "${auth[@]}" "$@"; }

# Ours is the newest comment whose body starts with the marker; every page is read, oldest
# first.
id=
page=1
while :; do
    got=$(call "$list?per_page=100&page=$page$order")
    [[ $(jq 'length' <<<"$got") -gt 0 ]] || break
    found=$(jq -r --arg m "$marker" \
        '[.[] | select((.body // "") | startswith($m)) | .id] | last // empty' <<<"$got")
    [[ -z $found ]] || id=$found
    page=$((page + 1))
done

# Both platforms take 65536 characters: the marker, then the review cut to 60000 bytes.
payload=$(head -c 60000 "$file" | jq -Rs --arg m "$marker" '{body: ($m + "\n" + .)}')
if [[ -n $id ]]; then
    call --request "$update" --header 'Content-Type: application/json' \
        --data-binary @- "$one/$id" <<<"$payload" >/dev/null
    echo "updated comment $id"
else
    call --request POST --header 'Content-Type: application/json' \
        --data-binary @- "$list" <<<"$payload" >/dev/null
    echo "created a comment"
fi
