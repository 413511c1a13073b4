#!/usr/bin/env bash
# Checks the deployment recipes in examples/ with the checkers made for them, installing
# what is missing:
#   - systemd units: `systemd-analyze verify` (Debian package systemd), with ExecStart
#     pointed at the built binary (verify insists it exists); any complaint fails, since
#     verify exits 0 on unknown keys;
#   - Kubernetes manifests: `kubernetes-validate --strict` (PyPI), offline schemas, and
#     every imagectl container running the image README's *Installing* pushes;
#   - the Prometheus rules: `promtool check rules` when promtool is installed, and every
#     metric they use (and every metric imagectl writes) listed in the README.
#
#   scripts/check-recipes.sh                 # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl scripts/check-recipes.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"
ensure_imagectl
IMAGECTL=$(realpath "$IMAGECTL")

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
if ! command -v systemd-analyze >/dev/null; then
    log "installing systemd (for systemd-analyze)"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y systemd
fi
if ! command -v kubernetes-validate >/dev/null; then
    log "pip install kubernetes-validate"
    python3 -m pip install --quiet kubernetes-validate ||
        python3 -m pip install --quiet --break-system-packages kubernetes-validate
fi

WORK=$(mktemp -d -t imagectl-recipes.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

log "systemd-analyze verify examples/systemd/*"
cp examples/systemd/* "$WORK/"
sed -i "s#/usr/bin/imagectl#$IMAGECTL#g" "$WORK"/*.service
out=$(cd "$WORK" && systemd-analyze verify ./*.service ./*.timer 2>&1) || { echo "$out"; exit 1; }
if [[ -n $out ]]; then
    echo "$out"
    echo "systemd-analyze verify complained about examples/systemd (above): fix the units" >&2
    exit 1
fi

log "kubernetes-validate --strict examples/kubernetes/*.yaml"
kubernetes-validate --strict --quiet examples/kubernetes/*.yaml

# The policy repository's CI examples: each against its platform's workflow schema (the
# ones check-jsonschema vendors, offline), and the review script they call, end to end.
log "CI examples: check-jsonschema, examples/ci/imagectl-review.sh"
command -v check-jsonschema >/dev/null || python3 -m pip install --quiet check-jsonschema
check-jsonschema --builtin-schema vendor.github-workflows examples/ci/github-actions.yml
check-jsonschema --builtin-schema vendor.gitlab-ci examples/ci/gitlab-ci.yml
# The comment script both call: parsed here, run against a comments API by tests/it/review_comment.rs.
bash -n examples/ci/imagectl-comment.sh
mkdir -p "$WORK/review/hosts"
printf 'version: 1\nimages: []\n' >"$WORK/review/base.yaml"
printf 'version: 1\nimages: []\nprune:\n  max_removals: 5\n' >"$WORK/review/head.yaml"
"$IMAGECTL" --store "$WORK/review/store" apply -f "$WORK/review/base.yaml" --yes \
    --report "$WORK/review/hosts/host.json" >/dev/null
IMAGECTL=$IMAGECTL bash examples/ci/imagectl-review.sh "$WORK/review/base.yaml" \
    "$WORK/review/head.yaml" "$WORK/review/hosts" >"$WORK/review.md"
for want in '^### imagectl diff' 'prune.max_removals: 50 → 5' '^### imagectl plan'; do
    grep -q "$want" "$WORK/review.md" || {
        cat "$WORK/review.md"
        echo "examples/ci/imagectl-review.sh: no '$want' in its comment (above)" >&2
        exit 1
    }
done

# Every imagectl container in the manifests runs the image the README's *Installing*
# builds and pushes (scripts/build-image.sh), at this version.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
want="registry.example/tools/imagectl:$version"
grep -q " push imagectl:$version $want" README.md ||
    { echo "README's *Installing* does not push $want" >&2; exit 1; }
for f in examples/kubernetes/*.yaml; do
    while read -r image; do
        [[ $image == "$want" ]] ||
            { echo "$f runs $image: imagectl's own image is $want (README, Installing)" >&2; exit 1; }
    done < <(sed -n 's/^ *image: *\([^ ]*imagectl[^ ]*\)$/\1/p' "$f")
done

log "Prometheus rules: examples/prometheus/imagectl.rules.yml"
if command -v promtool >/dev/null; then
    promtool check rules examples/prometheus/imagectl.rules.yml
fi
printf 'version: 1\nimages: []\n' >"$WORK/empty.yaml"
"$IMAGECTL" --store "$WORK/store" apply -f "$WORK/empty.yaml" --yes \
    --metrics-file "$WORK/imagectl.prom" >/dev/null
readme_section=$(sed -n '/^## Running periodically/,/^## [^R]/p' README.md)
missing=0
for name in $( (grep -o 'imagectl_[a-z_]*' examples/prometheus/imagectl.rules.yml
    sed -n 's/^# TYPE \(imagectl_[a-z_]*\) .*/\1/p' "$WORK/imagectl.prom") | sort -u); do
    if ! grep -qE "\`$name(\`|\{)" <<<"$readme_section"; then
        echo "metric $name is not listed in the README's *Running periodically* section" >&2
        missing=1
    fi
done
exit "$missing"
