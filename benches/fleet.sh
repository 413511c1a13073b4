#!/usr/bin/env bash
# A fleet of hosts simulated on loopback: N `imagectl run` daemons, each with its own store,
# on a short schedule, against one upstream registry, directly or through one pull-through
# mirror (docker-registry with proxy.remoteurl), with and without jitter. The policy has 20
# wanted names: 18 repositories with one tag each and one selector entry (keep: 2 of a
# semver range).
#
# Prints per configuration: requests reaching the upstream per no-op cycle; each host's
# requests per cycle (from its run report); the peak number of requests in flight at the
# upstream (from its log: end time and duration of every request); the time until every
# host holds a tag pushed upstream and the requests the upstream answered meanwhile
# (skopeo's push of the tag included); the RSS of the daemons between runs (each daemon's
# smallest over the no-op window), with its anonymous part (heap and stacks: the rest is
# the binary's clean text pages, shared by every daemon of the host).
#
#   benches/fleet.sh                                   # builds target/release/imagectl first
#   IMAGECTL=/path/to/imagectl FLEET="10 50 100" PERIOD=10 JITTER=8s benches/fleet.sh
#
# Needs docker-registry, skopeo and python3 (installed when missing, but python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

FLEET=${FLEET:-"10 50 100"}
PERIOD=${PERIOD:-10}
JITTER=${JITTER:-8s}
CYCLES=${CYCLES:-3}
ensure_packages
ensure_imagectl

WORK=$(mktemp -d -t imagectl-bench-fleet.XXXXXX)
UP_PID= MIRROR_PID=
declare -a PIDS=()
stop_fleet() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}
stop_registries() {
    local pid
    for pid in $UP_PID $MIRROR_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    UP_PID= MIRROR_PID=
}
cleanup() {
    stop_fleet
    stop_registries
    if [[ ${KEEP:-0} == 1 ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

L=$WORK/layout
log "building 21 small images (scripts/mkoci.py)"
python3 "$ROOT/scripts/mkoci.py" many "$L" --count 21 --prefix img- >/dev/null

push() { # push LAYOUT_REF UPSTREAM_REF
    skopeo copy --quiet --dest-tls-verify=false "oci:$L:$1" "docker://$2"
}

# run_config NAME N MIRROR(0|1) JITTER: one line of the table.
run_config() {
    local name=$1 n=$2 mirror=$3 jitter=$4 dir=$WORK/$1
    mkdir -p "$dir"
    REG_LOG_LEVEL=info start_registry "$dir/upstream"
    UP_PID=$REG_PID UP=$REG_HOST REG_PID=
    local registries=""
    if ((mirror)); then
        REG_LOG_LEVEL=info start_registry "$dir/mirror" false "proxy:
  remoteurl: http://$UP"
        MIRROR_PID=$REG_PID MIRROR=$REG_HOST REG_PID=
        registries="registries:
  \"$UP\": { mirrors: [\"http://$MIRROR\"] }
"
    fi
    local i
    for i in $(seq 1 18); do push "img-$(printf %03d "$i")" "$UP/bench/app$i:v1"; done
    push img-019 "$UP/bench/sel:1.0.0"
    push img-020 "$UP/bench/sel:1.1.0"
    {
        printf 'version: 1\n%simages:\n' "$registries"
        for i in $(seq 1 18); do printf '  - { name: %s/bench/app%d, tags: ["v1"] }\n' "$UP" "$i"; done
        printf '  - { name: %s/bench/sel, semver: ">=1.0.0", keep: 2 }\n' "$UP"
        printf 'prune: { unmanaged: remove }\n'
    } >"$dir/policy.yaml"

    local started
    started=$(date +%s.%N)
    for i in $(seq 1 "$n"); do
        mkdir -p "$dir/host$i"
        "$IMAGECTL" --store "$dir/host$i/store" run -f "$dir/policy.yaml" \
            --schedule "*/$PERIOD * * * * *" --jitter "$jitter" \
            --report "$dir/host$i/report.json" 2>"$dir/host$i/log" &
        PIDS+=($!)
    done
    # Every host converged on the first policy (cold pulls).
    local deadline=$((SECONDS + 180))
    until python3 "$ROOT/benches/fleet_stats.py" converged "$dir" "$n" 20; do
        ((SECONDS < deadline)) || { echo "the fleet did not converge; see $dir/host*/log" >&2; exit 1; }
        sleep 1
    done
    local cold
    cold=$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")

    # No-op cycles: from one cycle boundary, CYCLES whole periods.
    sleep $((PERIOD - $(date +%s) % PERIOD))
    local from to
    from=$(date +%s.%N)
    RSS_WINDOW=$((CYCLES * PERIOD)) python3 "$ROOT/benches/fleet_stats.py" rss "${PIDS[@]}" >"$dir/rss" &
    local rss_pid=$!
    sleep $((CYCLES * PERIOD))
    to=$(date +%s.%N)
    wait "$rss_pid"
    python3 "$ROOT/benches/fleet_stats.py" snapshot "$dir" "$n"

    # A new tag upstream: time until every host holds it.
    push img-021 "$UP/bench/sel:1.2.0"
    local pushed converged
    pushed=$(date +%s.%N)
    deadline=$((SECONDS + 120))
    until python3 "$ROOT/benches/fleet_stats.py" holds "$dir" "$n" "$UP/bench/sel:1.2.0"; do
        ((SECONDS < deadline)) || { echo "the new tag did not reach every host" >&2; exit 1; }
        sleep 0.2
    done
    converged=$(date +%s.%N)

    python3 "$ROOT/benches/fleet_stats.py" row "$name" "$n" "$jitter" "$dir" "$from" "$to" \
        "$CYCLES" "$pushed" "$converged" "$cold" "$UP"
    stop_fleet
    stop_registries
}

{
    printf '%-7s %4s %6s %12s %14s %10s %10s %10s %10s %14s\n' mode N jitter "upstream/cyc" \
        "host/cyc avg,max" "peak@up" "cold s" "newtag s" "up newtag" "idle RSS MiB avg,max (anon max)"
    for n in $FLEET; do
        run_config "direct-$n" "$n" 0 "$JITTER"
        run_config "mirror-$n" "$n" 1 "$JITTER"
    done
    last=${FLEET##* }
    run_config "direct-$last-nojitter" "$last" 0 0s
} | tee "$WORK/table"
echo "per host per no-op cycle, the target is at most 20 HEADs + 1 tag list = 21 requests" >&2
