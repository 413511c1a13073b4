# shellcheck shell=bash
# Helpers shared by scripts/quickstart.sh and the benches/ scripts. Source it; needs bash.
#
#   ensure_packages [--tests]  install what the main job (and the tests) need, if missing
#   start_registry DIR [ACCESSLOG_DISABLED] [EXTRA_YAML]
#                              start `docker-registry serve` on a free 127.0.0.1 port, storage and
#                              logs in DIR, EXTRA_YAML added to its config (e.g. a `proxy:`
#                              section); sets REG_PID and REG_HOST (127.0.0.1:PORT)
#   start_secure_registry DIR USER PASS
#                              the same over TLS (a CA made here with openssl; REG_CA is its PEM)
#                              and htpasswd basic auth for USER:PASS
#   stop_registry              kill the registry started above, by PID
#   ensure_imagectl            set IMAGECTL to target/release/imagectl (built) unless already set
#   cpu_s PID                  CPU seconds the process has used so far

REG_PID=
REG_HOST=
REG_CA=

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# cpu_s PID: CPU seconds (user + system) the process has used so far, from /proc. The
# benchmarks read it around each run for the registries, which share this machine's cores.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# ensure_packages [--tests]: the Debian packages the main job needs (with --tests: also those
# the integration tests drive), installed with apt-get when missing, their services kept from
# starting. One list, read by quickstart.sh, scripts/test.sh and CI.
ensure_packages() {
    local sudo=() missing=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    command -v skopeo >/dev/null || missing+=(skopeo)
    command -v umoci >/dev/null || missing+=(umoci)
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    [[ -x /usr/bin/time ]] || missing+=(time)
    command -v dockerd >/dev/null || missing+=(docker.io)
    # Building imagectl: the containerd and CRI API crates compile their protobufs.
    command -v protoc >/dev/null || missing+=(protobuf-compiler)
    if [[ ${1:-} == --tests ]]; then
        # The containerd store tests run Debian 12's containerd (1.6) beside sid's 2.x.
        command -v containerd >/dev/null || missing+=(containerd)
        # The bearer-token tests sign their tokens with openssl; the archive tests run a
        # busybox image in their own dockerd; podman reads and writes archives in the
        # interop tests (its own vfs storage, no daemon).
        command -v openssl >/dev/null || missing+=(openssl)
        [[ -x /bin/busybox ]] || missing+=(busybox-static)
        command -v podman >/dev/null || missing+=(podman)
        # The metrics tests parse /metrics and textfiles with Prometheus' Python parsers.
        # The system interpreter's (the tests prefer it over a pyenv python3 on PATH).
        local python=/usr/bin/python3
        [[ -x $python ]] || python=python3
        $python -c 'import prometheus_client' 2>/dev/null || missing+=(python3-prometheus-client)
        # scripts/check-package.sh reads the installed man pages; build-image.sh strips.
        command -v man >/dev/null || missing+=(man-db)
        command -v strip >/dev/null || missing+=(binutils)
        # The CI recipes' review-comment step runs with curl and jq in the tests.
        command -v curl >/dev/null || missing+=(curl)
        command -v jq >/dev/null || missing+=(jq)
    fi
    # The Kubernetes examples are validated offline against the API schemas (PyPI).
    if [[ ${1:-} == --tests ]] && ! command -v kubernetes-validate >/dev/null; then
        log "installing kubernetes-validate (PyPI)"
        python3 -m pip install --quiet kubernetes-validate
    fi
    # The CI examples are validated offline against the workflow schemas it vendors (PyPI).
    if [[ ${1:-} == --tests ]] && ! command -v check-jsonschema >/dev/null; then
        log "installing check-jsonschema (PyPI)"
        python3 -m pip install --quiet check-jsonschema
    fi
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        # Keep the packages' services (a system registry, a system dockerd) from starting
        # (Debian's policy-rc.d protocol), unless the machine already has a policy.
        local policy_added=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
            "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
            policy_added=1
        fi
        "${sudo[@]}" apt-get update
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
        if ((policy_added)); then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
    fi
    # Debian's docker-registry ships a service on :5000. Everything here starts its own
    # registries on free ports, so the system one only gets in the way.
    if [[ -d /run/systemd/system ]] && systemctl is-enabled --quiet docker-registry 2>/dev/null; then
        "${sudo[@]}" systemctl disable --now docker-registry || true
    elif [[ -f /var/run/docker-registry.pid ]]; then
        "${sudo[@]}" /etc/init.d/docker-registry stop || true
    fi
}

# True when something on 127.0.0.1:$1 answers GET /v2/ with 200 or 401.
registry_up() {
    local status
    status=$( (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        IFS= read -r -t 5 line <&3 && printf '%s' "$line"
    ) 2>/dev/null) || return 1
    [[ $status == *" 200 "* || $status == *" 401 "* ]]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_registry DIR [ACCESSLOG_DISABLED=false] [EXTRA_YAML]
# (REG_LOG_LEVEL=info: a `response completed` line per request with its time and duration)
start_registry() { launch_registry "$1" "${2:-false}" "" "" "${3:-}"; }

# start_secure_registry DIR USER PASS: TLS with a CA made here (REG_CA) and htpasswd auth
start_secure_registry() {
    mkdir -p "$1"
    make_certs "$1/certs"
    htpasswd -Bbn "$2" "$3" >"$1/htpasswd"
    launch_registry "$1" true "$1/certs" "$1/htpasswd"
}

# launch_registry DIR ACCESSLOG_DISABLED CERT_DIR HTPASSWD [EXTRA_YAML]
# (CERT_DIR and HTPASSWD empty: plain HTTP, no auth; EXTRA_YAML: top-level config sections)
launch_registry() {
    local dir=$1 accesslog_disabled=$2 certs=$3 htpasswd=$4 port _attempt extra=""
    if [[ -n ${5:-} ]]; then
        extra+="$5"$'\n'
    fi
    mkdir -p "$dir"
    if [[ -n $htpasswd ]]; then
        extra+=$'auth:\n  htpasswd:\n    realm: imagectl-scripts\n    path: '"$htpasswd"$'\n'
    fi
    for _attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + RANDOM % 40000))
        port_in_use "$port" && continue
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: ${REG_LOG_LEVEL:-warn}
  accesslog:
    disabled: $accesslog_disabled
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
${extra}http:
  addr: 127.0.0.1:$port
  secret: imagectl-scripts
EOF
        if [[ -n $certs ]]; then
            printf '  tls:\n    certificate: %s\n    key: %s\n' "$certs/server.pem" "$certs/server.key" >>"$dir/config.yml"
        fi
        docker-registry serve "$dir/config.yml" >"$dir/access.log" 2>"$dir/registry.log" &
        REG_PID=$!
        for _ in $(seq 100); do
            probe_registry "$port" "$certs" && break
            kill -0 "$REG_PID" 2>/dev/null || break
            sleep 0.1
        done
        # Ours only if our process is still alive (else another one owns the port).
        if kill -0 "$REG_PID" 2>/dev/null && probe_registry "$port" "$certs"; then
            REG_HOST=127.0.0.1:$port
            REG_CA=${certs:+$certs/ca.pem}
            return 0
        fi
        stop_registry
    done
    echo "could not start docker-registry; its log:" >&2
    cat "$dir/registry.log" >&2
    return 1
}

# probe_registry PORT CERT_DIR: plain HTTP when CERT_DIR is empty, else TLS trusting its CA
probe_registry() {
    if [[ -z $2 ]]; then registry_up "$1"; else tls_registry_up "$1" "$2/ca.pem"; fi
}

# A CA and a server certificate for 127.0.0.1/localhost, in DIR: ca.pem, server.pem, server.key.
make_certs() {
    local dir=$1
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=imagectl-bench-ca \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null
}

# True when https://127.0.0.1:$1/v2/ answers 200 or 401, trusting the CA in $2.
tls_registry_up() {
    python3 - "$1" "$2" 2>/dev/null <<'PY'
import ssl, sys, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=sys.argv[2])
try:
    urllib.request.urlopen(f"https://127.0.0.1:{sys.argv[1]}/v2/", context=ctx, timeout=2)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 401 else 1)
except Exception:
    sys.exit(1)
sys.exit(0)
PY
}

stop_registry() {
    if [[ -n $REG_PID ]]; then
        kill "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
        REG_PID=
    fi
}

# start_dockerd DIR: a private Debian dockerd (vfs, no networking set-up) with its data
# root, exec root and socket under DIR; sets DOCKERD_SOCK and DOCKERD_PID. stop_dockerd
# stops it (and the containerd it started) by PID and unmounts what it left.
start_dockerd() {
    local d=$1
    mkdir -p "$d"
    echo '{}' >"$d/daemon.json"
    env -u DOCKER_HOST dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
        --data-root "$d/d" --exec-root "$d/e" --pidfile "$d/p" -H "unix://$d/s" \
        --config-file "$d/daemon.json" >"$d/log" 2>&1 &
    DOCKERD_PID=$!
    DOCKERD_DIR=$d
    DOCKERD_SOCK=$d/s
    local _
    for _ in $(seq 150); do
        [[ -S $DOCKERD_SOCK ]] && docker -H "unix://$DOCKERD_SOCK" info >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "dockerd did not start: $(tail -5 "$d/log")" >&2
    return 1
}

stop_dockerd() {
    [[ -n ${DOCKERD_PID:-} ]] || return 0
    kill "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    if [[ -f $DOCKERD_DIR/e/containerd/containerd.pid ]]; then
        kill -9 "$(cat "$DOCKERD_DIR/e/containerd/containerd.pid")" 2>/dev/null || true
    fi
    grep -o " $DOCKERD_DIR[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    DOCKERD_PID=
}

# IMAGECTL=/path/to/imagectl skips the build.
ensure_imagectl() {
    if [[ -z ${IMAGECTL:-} ]]; then
        # cargo's own progress (a bar on a terminal, one line per crate elsewhere): a first
        # build takes minutes and should be seen to move.
        log "cargo build --release (a first build takes a few minutes)"
        (cd "$ROOT" && cargo build --release)
        IMAGECTL=${CARGO_TARGET_DIR:-$ROOT/target}/release/imagectl
    fi
}
