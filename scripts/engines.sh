#!/usr/bin/env bash
# Fetches newer engines than Debian 12's WITHOUT installing them: `engines.sh` (trixie: dockerd
# 26 with the containerd image store) or `engines.sh sid` (containerd 2.x, and oras), for the
# integration tests. The suite's packages are downloaded with a throwaway apt configuration
# and unpacked with `dpkg-deb -x` into
#
#   ${IMAGECTL_ENGINES_DIR:-/var/cache/imagectl-engines}/SUITE
#
# whose path is printed on the last line. Run dockerd with that dir's usr/bin and usr/sbin first
# on PATH: it then starts containerd, the shim and docker-init from there. Idempotent: when the
# binaries are already unpacked it does nothing, without network access.
#
# trixie's runc needs glibc 2.38 (Debian 12 has 2.36; dockerd, containerd and the client are
# fine): when it cannot run here it is dropped, and the system's runc (Debian 12 package runc,
# a dependency of docker.io) is used instead.
set -euo pipefail

SUITE=${1:-trixie}
case $SUITE in
trixie)
    # dockerd, its client (a package of its own since 26), containerd, runc; tini ships
    # docker-init (a static binary), which `docker run --init` needs.
    PKGS=(docker.io docker-cli containerd runc tini)
    BINS=(usr/sbin/dockerd usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2)
    ;;
sid)
    # containerd 2.x (CRI v1 only, config version 3) for the containerd store tests; oras
    # (1.3, a static Go binary; Debian 12 has none), the referrer tests' independent writer
    # and reader of signatures and SBOMs.
    PKGS=(containerd runc oras)
    BINS=(usr/bin/containerd usr/bin/ctr usr/bin/containerd-shim-runc-v2 usr/bin/oras)
    ;;
*)
    echo "engines: unknown suite $SUITE (trixie or sid)" >&2
    exit 2
    ;;
esac
DEST="${IMAGECTL_ENGINES_DIR:-/var/cache/imagectl-engines}/$SUITE"

complete() {
    local b
    for b in "${BINS[@]}"; do [[ -x "$DEST/$b" ]] || return 1; done
}

if complete; then echo "$DEST"; exit 0; fi

# Several test processes may call this at once: one fetches, the others wait for it.
mkdir -p "$(dirname "$DEST")"
exec 9>"$DEST.lock"
flock 9
if complete; then echo "$DEST"; exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
chmod -R a+rwX "$tmp" # apt's download sandbox user (_apt) writes here
cat >"$tmp/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
EOF
# Its own source list, lists and cache: the system's apt sources and state stay untouched.
apt=(apt-get -q
    -o "Dir::Etc::SourceList=$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false) # no AppStream data (5 MB)
"${apt[@]}" update >&2
(cd "$tmp/debs" && "${apt[@]}" download "${PKGS[@]}" >&2)

# Unpack into a staging dir, then move it into place: DEST is either complete or absent.
rm -rf "$DEST.new" "$DEST"
mkdir -p "$DEST.new"
for deb in "$tmp"/debs/*.deb; do
    echo "engines: unpacking $(basename "$deb")" >&2
    dpkg-deb -x "$deb" "$DEST.new"
done
if ! "$DEST.new/usr/sbin/runc" --version >/dev/null 2>&1; then
    echo "engines: $SUITE's runc does not run here (glibc too old?): using the system's runc" >&2
    rm -f "$DEST.new/usr/sbin/runc" "$DEST.new/usr/bin/runc"
fi
mv "$DEST.new" "$DEST"
complete || { echo "engines: $DEST lacks one of: ${BINS[*]}" >&2; exit 1; }
echo "$DEST"
