#!/usr/bin/env bash
# Headline failover time: from killing the primary backend to the first DNS
# answer naming the secondary, with the documented check settings
# (interval 1s, timeout 500ms, fall 2). Prints each run and the median; it
# asserts nothing.
#
# Everything listens on loopback (backends on 127.0.0.201/202, healthdns on
# 127.0.0.1, ports picked by the kernel) and everything is killed on exit.
#
# Usage: benches/failover.sh [RUNS]   (needs cargo, python3, dig)
set -euo pipefail

RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PRIMARY=127.0.0.201
SECONDARY=127.0.0.202
WORK=$(mktemp -d)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

echo "building the release binary..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin healthdns
BIN="$ROOT/target/release/healthdns"

# A health endpoint: 200 "ok" on every path, keep-alive. Writes the port it
# bound (0 = any) to the file given.
cat > "$WORK/backend.py" <<'EOF'
import http.server, os, sys

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        if body:
            self.wfile.write(b"ok")

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def log_message(self, *args):
        pass

ip, port, port_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = http.server.ThreadingHTTPServer((ip, port), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
EOF

# start_backend IP PORT NAME: starts it, waits for its port file, sets
# BACKEND_PID and BACKEND_PORT.
start_backend() {
    local ip=$1 port=$2 name=$3 tries=0
    while :; do
        rm -f "$WORK/$name.port"
        python3 "$WORK/backend.py" "$ip" "$port" "$WORK/$name.port" 2>"$WORK/$name.err" &
        BACKEND_PID=$!
        PIDS+=("$BACKEND_PID")
        for _ in $(seq 200); do
            [[ -s "$WORK/$name.port" ]] && break
            kill -0 "$BACKEND_PID" 2>/dev/null || break
            sleep 0.05
        done
        if [[ -s "$WORK/$name.port" ]]; then
            BACKEND_PORT=$(cat "$WORK/$name.port")
            return
        fi
        # The port was taken for a moment (re-binding after a kill): retry.
        tries=$((tries + 1))
        if (( tries > 50 )); then
            echo "cannot start backend $name on $ip:$port:" >&2
            cat "$WORK/$name.err" >&2
            exit 1
        fi
        sleep 0.2
    done
}

start_backend "$PRIMARY" 0 primary
PRIMARY_PID=$BACKEND_PID
PRIMARY_PORT=$BACKEND_PORT
start_backend "$SECONDARY" 0 secondary
SECONDARY_PORT=$BACKEND_PORT

cat > "$WORK/bench.test.zone" <<EOF
\$ORIGIN bench.test.
\$TTL 300
@   IN SOA ns.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 60
@   IN NS  ns.bench.test.
ns  IN A   192.0.2.1
api 5 IN A $PRIMARY   ; healthdns failover=primary   check=web target=$PRIMARY:$PRIMARY_PORT
api 5 IN A $SECONDARY ; healthdns failover=secondary check=web target=$SECONDARY:$SECONDARY_PORT
EOF
cat > "$WORK/healthdns.toml" <<EOF
[check.web]
type = "http"
path = "/health"
interval = "1s"
timeout = "500ms"
fall = 2
rise = 2

[[zone]]
file = "bench.test.zone"
EOF

"$BIN" serve --config "$WORK/healthdns.toml" --listen 127.0.0.1:0 \
    >"$WORK/healthdns.out" 2>"$WORK/healthdns.err" &
PIDS+=("$!")
DNS_PORT=
for _ in $(seq 600); do
    DNS_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/healthdns.out" | head -1)
    [[ -n "$DNS_PORT" ]] && break
    sleep 0.05
done
if [[ -z "$DNS_PORT" ]]; then
    echo "healthdns did not start:" >&2
    cat "$WORK/healthdns.out" "$WORK/healthdns.err" >&2
    exit 1
fi

answer() {
    dig @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries=1 api.bench.test A 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}

# wait_answer ADDR DEADLINE_S: polls until dig answers exactly ADDR.
wait_answer() {
    local want=$1 end=$(( $(now_ms) + $2 * 1000 ))
    while [[ "$(answer)" != "$want" ]]; do
        if (( $(now_ms) > end )); then
            echo "no answer $want within $2 s (last: '$(answer)')" >&2
            cat "$WORK/healthdns.err" >&2
            exit 1
        fi
        sleep 0.1
    done
}

echo "healthdns on 127.0.0.1:$DNS_PORT; primary $PRIMARY:$PRIMARY_PORT, secondary $SECONDARY:$SECONDARY_PORT"
echo "check: interval 1s, timeout 500ms, fall 2, rise 2; dig polled every 20 ms"
TIMES=()
for run in $(seq "$RUNS"); do
    if ! kill -0 "$PRIMARY_PID" 2>/dev/null; then
        start_backend "$PRIMARY" "$PRIMARY_PORT" primary
        PRIMARY_PID=$BACKEND_PID
    fi
    wait_answer "$PRIMARY" 60
    # Kill mid-interval at a random phase rather than right after a probe.
    sleep "0.$(( RANDOM % 10 ))"
    t0=$(now_ms)
    kill -9 "$PRIMARY_PID"
    wait "$PRIMARY_PID" 2>/dev/null || true
    while [[ "$(answer)" != "$SECONDARY" ]]; do
        if (( $(now_ms) - t0 > 60000 )); then
            echo "run $run: no failover within 60 s" >&2
            exit 1
        fi
        sleep 0.02
    done
    t1=$(now_ms)
    ms=$((t1 - t0))
    TIMES+=("$ms")
    printf 'run %d: failover after %d ms\n' "$run" "$ms"
done

MEDIAN=$(printf '%s\n' "${TIMES[@]}" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "median failover time over $RUNS runs: $MEDIAN ms"
