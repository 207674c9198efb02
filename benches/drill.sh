#!/usr/bin/env bash
# What `healthdns drill` measures on the shipped example
# (examples/failover/: an HTTP check each second, timeout 500ms, fall 2,
# rise 2), served by `healthdns demo` with its two demo web servers, the
# set's TTL raised to 10 s, and Unbound in front as a resolver would be.
# Runs the drill RUNS times (default 5), each after a random pause so that
# it starts at a random phase of the probe schedule, prints each run's
# figures and their medians: detection, switch, failback, and the
# resolver's switch. It asserts nothing but that each drill passed.
#
# Everything listens on loopback (the demo's backends on 127.0.0.21/22,
# healthdns and Unbound on 127.0.0.1, free ports) and is stopped on exit.
#
# Usage: benches/drill.sh [RUNS]   (needs cargo, python3, curl, unbound)
set -euo pipefail

RUNS=${1:-5}
TTL=10
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "building the release binary..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin healthdns
BIN="$ROOT/target/release/healthdns"

DNS=$(free_port)
API=$(free_port)
BACKEND=$(free_port)
RESOLVER=$(free_port)

# The demo quits at the end of its input: keep it open through a FIFO.
mkfifo "$WORK/keys"
"$BIN" demo --dir "$WORK/demo" --port "$DNS" --api-port "$API" --backend-port "$BACKEND" \
    <"$WORK/keys" >"$WORK/demo.out" 2>"$WORK/demo.err" &
PIDS+=("$!")
exec 3>"$WORK/keys"
for _ in $(seq 600); do
    grep -q '^api listening on' "$WORK/demo.out" 2>/dev/null && break
    sleep 0.05
done
if ! grep -q '^api listening on' "$WORK/demo.out"; then
    echo "the demo did not start:" >&2
    cat "$WORK/demo.out" "$WORK/demo.err" >&2
    exit 1
fi

# The example's TTL is 5 s; measure with 10 s, through a reload.
sed -i "s/^app  5 IN A/app  $TTL IN A/" "$WORK/demo/failover.test.zone"
grep -q "^app  $TTL IN A" "$WORK/demo/failover.test.zone"
curl -fsS -X POST "http://127.0.0.1:$API/api/v1/reload" >/dev/null

cat >"$WORK/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $RESOLVER
  do-daemonize: no
  use-syslog: no
  logfile: ""
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: "$WORK/unbound.pid"
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  num-threads: 1
  module-config: "iterator"
  local-zone: "test." nodefault
  do-ip6: no
  so-reuseport: no
stub-zone:
  name: "failover.test."
  stub-addr: 127.0.0.1@$DNS
EOF
unbound -d -c "$WORK/unbound.conf" 2>"$WORK/unbound.err" &
PIDS+=("$!")
for _ in $(seq 200); do
    dig @127.0.0.1 -p "$RESOLVER" +time=1 +tries=1 +short app.failover.test A >/dev/null 2>&1 && break
    sleep 0.05
done

echo "healthdns demo: DNS 127.0.0.1:$DNS, API 127.0.0.1:$API, backends 127.0.0.21/22:$BACKEND"
echo "check: interval 1s, timeout 500ms, fall 2, rise 2; TTL $TTL s; Unbound on 127.0.0.1:$RESOLVER"
echo "command: healthdns drill app.failover.test A --server 127.0.0.1:$DNS --api http://127.0.0.1:$API --resolver 127.0.0.1:$RESOLVER --json"
for run in $(seq "$RUNS"); do
    sleep "$(( RANDOM % 2 )).$(( RANDOM % 10 ))"
    if ! "$BIN" drill app.failover.test A --server "127.0.0.1:$DNS" --api "http://127.0.0.1:$API" \
        --resolver "127.0.0.1:$RESOLVER" --json >"$WORK/run$run.json" 2>"$WORK/run$run.err"; then
        echo "run $run: the drill did not pass:" >&2
        cat "$WORK/run$run.json" "$WORK/run$run.err" >&2
        exit 1
    fi
    python3 - "$WORK/run$run.json" "$run" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"run {sys.argv[2]}: detect {r['detect_s']:.3f} s  switch {r['switch_s']:.3f} s  "
      f"resolver {r['resolver_switch_s']:.3f} s (TTL {r['resolver_ttl']})  failback {r['failback_s']:.3f} s")
EOF
done

python3 - "$WORK" "$RUNS" <<'EOF'
import json, statistics, sys
runs = [json.load(open(f"{sys.argv[1]}/run{i}.json")) for i in range(1, int(sys.argv[2]) + 1)]
print(f"median over {len(runs)} runs:")
for key, what in [("detect_s", "detection (first target down)"),
                  ("switch_s", "switch (authoritative answer moved)"),
                  ("resolver_switch_s", "through Unbound"),
                  ("failback_s", "failback (after the simulation ended)")]:
    print(f"  {what:40} {statistics.median(r[key] for r in runs):.3f} s")
EOF
