#!/usr/bin/env bash
# Checks the Debian package the way an operator meets it, on this machine (CI's is a fresh
# one): builds it (scripts/build-deb.sh), `apt-get install ./imagectl_*.deb`, then
#   - `imagectl --version`, `man imagectl`, the bash completion loads and completes;
#   - `systemd-analyze verify` of the installed units, none of them enabled;
#   - a one-shot apply through the installed imagectl-apply.service's own command line
#     (ExecStart= and Environment= read from the unit) against a local registry;
#   - purge removes the package's files and keeps the store the apply filled; a purge of a
#     never-used install removes the empty store directory too.
# Fails with one line saying what is wrong. Needs root (apt-get, /usr/bin, /var/lib/imagectl);
# refuses to run where /etc/imagectl or /var/lib/imagectl already exist, so it never touches
# an operator's policy or store.
#
#   scripts/check-package.sh
#   DEB=target/debian/imagectl_0.1.0-1_amd64.deb scripts/check-package.sh   # skip the build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

fail() {
    echo "check-package: $*" >&2
    exit 1
}

[[ $(id -u) -eq 0 ]] || fail "run as root: it installs and purges the package"
for path in /etc/imagectl /var/lib/imagectl; do
    [[ ! -e $path ]] || fail "$path exists: run this on a CI or throwaway machine, not a host imagectl manages"
done
if dpkg-query -W -f '${Status}' imagectl 2>/dev/null | grep -q 'ok installed'; then
    fail "the imagectl package is installed already: purge it first (apt-get purge imagectl)"
fi

WORK=$(mktemp -d -t imagectl-package.XXXXXX)
made_textfile_dir=0
[[ -d /var/lib/prometheus ]] || made_textfile_dir=1
cleanup() {
    stop_registry
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq imagectl >/dev/null 2>&1 || true
    rm -rf /etc/imagectl /var/lib/imagectl "$WORK"
    if ((made_textfile_dir)); then rm -rf /var/lib/prometheus; fi
}
trap cleanup EXIT

if [[ -z ${DEB:-} ]]; then
    DEB=$(bash scripts/build-deb.sh | tail -1)
fi
[[ -f $DEB ]] || fail "no package at $DEB"
DEB=$(realpath "$DEB")
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

log "apt-get install $DEB"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEB" >"$WORK/install.log" 2>&1 ||
    fail "apt-get install failed: $(tail -1 "$WORK/install.log")"
for dep in libc6 libgcc-s1 ca-certificates; do
    dpkg-deb -f "$DEB" Depends | grep -qw "$dep" || fail "Depends lacks $dep: $(dpkg-deb -f "$DEB" Depends)"
done

log "the binary, man pages, completions, docs"
[[ $(command -v imagectl) == /usr/bin/imagectl ]] || fail "imagectl is not /usr/bin/imagectl on PATH"
[[ $(imagectl --version) == "imagectl $VERSION" ]] || fail "imagectl --version said: $(imagectl --version)"
man -w imagectl >/dev/null 2>&1 || fail "man -w imagectl finds no page"
MANWIDTH=80 man imagectl-pull 2>/dev/null | grep -q 'imagectl-pull' || fail "man imagectl-pull does not render"
completion=$(bash -c 'set -e; source /usr/share/bash-completion/completions/imagectl
    complete -p imagectl >/dev/null; COMP_WORDS=(imagectl app); COMP_CWORD=1
    _imagectl imagectl app imagectl; printf "%s\n" "${COMPREPLY[@]}"' 2>&1) ||
    fail "the bash completion does not load: $completion"
grep -qx apply <<<"$completion" || fail "the bash completion does not complete 'app' to apply: $completion"
[[ -s /usr/share/zsh/vendor-completions/_imagectl ]] || fail "no zsh completion"
[[ -s /usr/share/fish/vendor_completions.d/imagectl.fish ]] || fail "no fish completion"
imagectl validate -f /usr/share/doc/imagectl/examples/everyday.yaml >/dev/null ||
    fail "the example policy in /usr/share/doc/imagectl/examples does not validate"
[[ -d /var/lib/imagectl ]] || fail "the package did not create /var/lib/imagectl"

log "systemd-analyze verify of the installed units"
units=()
for u in imagectl-apply.service imagectl-apply.timer imagectl-run.service; do
    f=$(dpkg -L imagectl | grep "/systemd/system/$u\$" || true)
    [[ -n $f ]] || fail "the package has no $u"
    units+=("$f")
done
out=$(systemd-analyze verify "${units[@]}" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify complained: $out"
if ls /etc/systemd/system/*.wants/imagectl-* >/dev/null 2>&1; then
    fail "the package enabled a unit: $(ls /etc/systemd/system/*.wants/imagectl-*)"
fi

log "one apply through imagectl-apply.service's command line"
start_registry "$WORK/registry"
python3 scripts/mkoci.py single "$WORK/layout" --ref demo --text package >/dev/null
skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$WORK/layout:demo" \
    "docker://$REG_HOST/demo/package:1.0"
mkdir -p /etc/imagectl
printf 'version: 1\nimages:\n  - name: %s/demo/package\n    tags: ["1.0"]\n' "$REG_HOST" >/etc/imagectl/policy
# The unit's ExecStart= (continuation lines joined), Environment= and StateDirectory=, as
# systemd would use them; no systemd runs here.
unit=$(dpkg -L imagectl | grep '/systemd/system/imagectl-apply.service$')
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$unit")
exec_start=$(sed -n 's/^ExecStart=//p' <<<"$joined")
mapfile -t environment < <(sed -n 's/^Environment=//p' <<<"$joined")
for dir in $(sed -n 's/^StateDirectory=//p' <<<"$joined"); do mkdir -p "/var/lib/$dir"; done
[[ $exec_start == /usr/bin/imagectl\ * ]] || fail "ExecStart= does not run /usr/bin/imagectl: $exec_start"
read -r -a argv <<<"$exec_start"
env -i PATH=/usr/bin:/bin "${environment[@]}" "${argv[@]}" >"$WORK/apply.log" 2>&1 ||
    fail "the unit's command failed: $(tail -1 "$WORK/apply.log")"
imagectl --store /var/lib/imagectl images | grep -q "$REG_HOST/demo/package *1.0" ||
    fail "the apply left no $REG_HOST/demo/package:1.0 in /var/lib/imagectl"
[[ -s /var/lib/imagectl/.imagectl/last-apply.json ]] || fail "the unit's --report file is missing"
grep -q '^imagectl_last_run_success 1' /var/lib/prometheus/node-exporter/imagectl.prom ||
    fail "the unit's --metrics-file does not say the run succeeded"

log "apt-get purge keeps the store"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq imagectl >"$WORK/purge.log" 2>&1 ||
    fail "apt-get purge failed: $(tail -1 "$WORK/purge.log")"
for f in "${units[@]}" /usr/bin/imagectl /usr/share/bash-completion/completions/imagectl; do
    [[ ! -e $f ]] || fail "purge left $f"
done
[[ -f /var/lib/imagectl/index.json ]] || fail "purge removed the store /var/lib/imagectl"

log "apt-get purge of a never-used install removes the empty store directory"
rm -rf /var/lib/imagectl
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEB" >"$WORK/install.log" 2>&1 ||
    fail "apt-get install (again) failed: $(tail -1 "$WORK/install.log")"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq imagectl >"$WORK/purge.log" 2>&1 ||
    fail "apt-get purge failed: $(tail -1 "$WORK/purge.log")"
[[ ! -e /var/lib/imagectl ]] || fail "purge of an unused install left /var/lib/imagectl"
log "the package installs, works and purges cleanly"
