#!/usr/bin/env bash
# Soak: healthdns under a steady load while everything around it moves.
#
# For DURATION (default 10m) it runs, against one healthdns on loopback:
# - dnsperf at a fixed rate (-Q, default 15000) over static names,
#   NXDOMAINs and a failover, a multivalue and a weighted set;
# - the backends of those sets flapping: every second each of ten mock
#   backends (HTTP on 127.0.0.21-.23 and .28-.30, TCP on .24-.27) goes
#   down or up with probability 0.3 (an HTTP backend answers 503, a TCP
#   one closes its listening socket);
# - a SIGHUP every 5 s, every fourth one with a broken zone or config
#   (alternately), which must be refused while the old data keeps serving;
# - TCP clients alongside: idle ones that send nothing (closed by the
#   server after tcp-idle-timeout), ones that send a query a byte at a time
#   fast enough to finish within the timeout (answered), and ones too slow
#   to (cut off).
#
# It prints, and asserts nothing:
# - queries lost: dnsperf's count (goal 0);
# - RSS and open fds of the server at 5 s, after a tenth of the run (the
#   allocator and buffers grown to the load) and in the last seconds under
#   load (goal: within 5 %), each the median of five samples a second apart;
# - contradictions: dig samples the three sets every ~200 ms; an answer
#   naming a backend that had been down longer than the detection window
#   (fall x interval x 1.1 for the probe jitter, plus the probe timeout,
#   plus 0.5 s for scheduling) is one (goal 0);
# - reloads accepted and refused against those expected, and the TCP
#   clients' outcomes.
#
# Everything binds to 127.0.0.0/8 (healthdns and its TCP port on 127.0.0.1,
# picked by the kernel) and is stopped on exit.
#
# Usage: benches/soak.sh [DURATION=10m] [QPS=15000]
#   DURATION: seconds, or a number with s, m or h (e.g. 90s, 2m).
#   Needs cargo, python3, dig, dnsperf.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${1:-10m}
QPS=${2:-15000}
case $DURATION in
*h) SECONDS_TOTAL=$((${DURATION%h} * 3600)) ;;
*m) SECONDS_TOTAL=$((${DURATION%m} * 60)) ;;
*s) SECONDS_TOTAL=${DURATION%s} ;;
*) SECONDS_TOTAL=$DURATION ;;
esac
if ! [[ $SECONDS_TOTAL =~ ^[0-9]+$ ]] || ((SECONDS_TOTAL < 20)); then
    echo "duration $DURATION: at least 20s (e.g. 90s, 10m)" >&2
    exit 2
fi
# The checks, as the detection window counts them.
INTERVAL_MS=250
TIMEOUT_MS=200
FALL=2
RISE=2
IDLE_TIMEOUT_S=3

for tool in dnsperf dig python3; do
    command -v "$tool" >/dev/null || {
        echo "needs $tool" >&2
        exit 2
    }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${PIDS[@]}"; do
        kill -9 "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "building the release binary..." >&2
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" --bin healthdns
BIN="$ROOT/target/release/healthdns"

# The world around the server: the backends and their flapping, the dig
# sampler, the TCP clients; at the end, the comparison of answers with the
# backends' states. Its clock (CLOCK_MONOTONIC) is the one `sleep` and the
# server see, so ages are comparable.
cat >"$WORK/world.py" <<'EOF'
import http.server, os, random, select, socket, socketserver, struct, subprocess
import sys, threading, time

work, seconds = sys.argv[1], float(sys.argv[2])
interval, timeout, fall = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
idle_timeout = float(sys.argv[6])
window = fall * interval * 1.1 + timeout + 0.5

HTTP = ["127.0.0.%d" % i for i in (21, 22, 23, 28, 29, 30)]
TCP = ["127.0.0.%d" % i for i in (24, 25, 26, 27)]
lock = threading.Lock()
up = {ip: True for ip in HTTP + TCP}
# Per backend, its changes: (monotonic time, up).
history = {ip: [(0.0, True)] for ip in HTTP + TCP}
stop = threading.Event()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        ok = up[self.server.ip]
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def same_port(ips, make):
    """Binds every ip on one port the kernel picks for the first."""
    for _ in range(100):
        first = make(ips[0], 0)
        port = first.server_address[1] if hasattr(first, "server_address") else first.getsockname()[1]
        made = [first]
        try:
            for ip in ips[1:]:
                made.append(make(ip, port))
            return port, made
        except OSError:
            for m in made:
                (m.server_close if hasattr(m, "server_close") else m.close)()
    raise SystemExit("no common free port")


def http_server(ip, port):
    s = Server((ip, port), Handler)
    s.ip = ip
    return s


def listener(ip, port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(64)
    return s


http_port, servers = same_port(HTTP, http_server)
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
tcp_port, listeners = same_port(TCP, listener)
listening = dict(zip(TCP, listeners))
with open(work + "/ports.tmp", "w") as f:
    f.write("%d %d\n" % (http_port, tcp_port))
os.rename(work + "/ports.tmp", work + "/ports")

while not os.path.exists(work + "/dnsport"):
    time.sleep(0.05)
dns_port = int(open(work + "/dnsport").read())
start = time.monotonic()
deadline = start + seconds


def tcp_backends():
    """Accepts (and closes) on the TCP backends that are up."""
    while not stop.is_set():
        with lock:
            socks = [s for s in listening.values() if s is not None]
        try:
            ready = select.select(socks, [], [], 0.05)[0] if socks else time.sleep(0.05) or []
        except (OSError, ValueError):
            continue  # flap() closed one of them meanwhile
        for s in ready:
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass


def flap():
    rng = random.Random(17)
    flips = 0
    while not stop.wait(1.0):
        for ip in HTTP + TCP:
            if rng.random() >= 0.3:
                continue
            with lock:
                now = not up[ip]
                if ip in TCP:
                    if now:
                        listening[ip] = listener(ip, tcp_port)
                    else:
                        listening[ip].close()
                        listening[ip] = None
                up[ip] = now
                history[ip].append((time.monotonic(), now))
                flips += 1
    stats["flips"] = flips


samples = []  # (time sent, [(name, addr)], ok)


def sample():
    """Starts a dig every 200 ms, whether or not the last one has ended."""
    names = ["fo.soak.test", "mv.soak.test", "wt.soak.test"]
    args = ["dig", "@127.0.0.1", "-p", str(dns_port), "+noall", "+answer", "+time=1", "+tries=1"]
    for n in names:
        args += [n, "A"]
    pending = []
    tick = time.monotonic()
    while not stop.is_set() or pending:
        if not stop.is_set():
            pending.append((time.monotonic(), subprocess.Popen(args, stdout=subprocess.PIPE, text=True)))
        for t, p in [x for x in pending if x[1].poll() is not None or stop.is_set()]:
            out = p.communicate()[0]
            pending.remove((t, p))
            seen = []
            for line in out.splitlines():
                f = line.split()
                if len(f) == 5 and f[3] == "A":
                    seen.append((f[0].rstrip("."), f[4]))
            samples.append((t, seen, p.returncode == 0))
        tick += 0.2
        stop.wait(max(0.0, tick - time.monotonic()))


stats = {"idle_closed": 0, "idle_late": 0, "idle_refused": 0,
         "trickle_ok": 0, "trickle_failed": 0, "slow_cut": 0, "slow_answered": 0}


def count(key):
    with lock:
        stats[key] += 1


def idle_client():
    while not stop.is_set():
        try:
            c = socket.create_connection(("127.0.0.1", dns_port), timeout=idle_timeout * 3)
        except OSError:
            count("idle_refused")
            stop.wait(0.5)
            continue
        try:
            c.recv(1)  # nothing comes: the server closes, or the timeout here
            count("idle_closed")
        except socket.timeout:
            if not stop.is_set():
                count("idle_late")
        except OSError:
            count("idle_closed")
        c.close()


def query(qid):
    name = b"".join(bytes([len(l)]) + l for l in (b"h%d" % (qid % 100), b"soak", b"test")) + b"\0"
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(msg)) + msg


def read_answer(c, qid):
    data = b""
    while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
        chunk = c.recv(4096)
        if not chunk:
            return False
        data += chunk
    qid_back, flags, _, ancount = struct.unpack(">HHHH", data[2:10])
    return qid_back == qid and flags & 0xF == 0 and ancount == 1


def trickle_client(pause, key_ok, key_bad, seed):
    """Sends queries a byte at a time, `pause` between bytes, three a connection."""
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            c = socket.create_connection(("127.0.0.1", dns_port), timeout=idle_timeout * 3)
        except OSError:
            count(key_bad)
            stop.wait(0.5)
            continue
        try:
            for _ in range(3):
                qid = rng.randrange(65536)
                for b in query(qid):
                    if stop.is_set():
                        return
                    c.sendall(bytes([b]))
                    time.sleep(pause)
                count(key_ok if read_answer(c, qid) else key_bad)
        except OSError:
            if not stop.is_set():
                count(key_bad)
        finally:
            c.close()


threads = [threading.Thread(target=t, daemon=True) for t in (tcp_backends, flap, sample)]
threads += [threading.Thread(target=idle_client, daemon=True) for _ in range(16)]
# ~36 bytes at 40 ms: 1.5 s, within the idle timeout; at 300 ms: 11 s, not.
threads += [threading.Thread(target=trickle_client, args=(0.04, "trickle_ok", "trickle_failed", i), daemon=True) for i in range(4)]
threads += [threading.Thread(target=trickle_client, args=(0.3, "slow_answered", "slow_cut", 10 + i), daemon=True) for i in range(4)]
for t in threads:
    t.start()
while time.monotonic() < deadline:
    time.sleep(0.2)
stop.set()
time.sleep(0.5)


def down_since(ip, t):
    """When the backend went down, if it was down at t."""
    state = history[ip][0]
    for change in history[ip]:
        if change[0] > t:
            break
        state = change
    return None if state[1] else state[0]


contradictions, tolerated, named, failed = 0, 0, 0, 0
worst = 0.0
for t, seen, ok in samples:
    failed += not ok
    for name, addr in seen:
        named += 1
        since = down_since(addr, t)
        if since is None:
            continue
        if t - since > window:
            contradictions += 1
            worst = max(worst, t - since)
        else:
            tolerated += 1

print("backend flips: %d over %d backends" % (stats.get("flips", 0), len(up)))
print("dig samples: %d (%d failed), members named: %d" % (len(samples), failed, named))
print("detection window: %.2f s (fall %d x interval %.3f s x 1.1 + timeout %.3f s + 0.5 s)" % (window, fall, interval, timeout))
print("answers naming a backend down within the window: %d" % tolerated)
print("contradictions (naming a backend down longer): %d%s" % (contradictions, " (longest down %.2f s)" % worst if contradictions else ""))
print("idle TCP clients closed by the server: %d, still open after 3x the idle timeout: %d, refused: %d"
      % (stats["idle_closed"], stats["idle_late"], stats["idle_refused"]))
print("byte-at-a-time queries within the timeout: %d answered, %d failed" % (stats["trickle_ok"], stats["trickle_failed"]))
print("byte-at-a-time queries too slow for the timeout: %d cut off, %d answered" % (stats["slow_cut"], stats["slow_answered"]))
EOF

seconds() { awk -v ms="$1" 'BEGIN { print ms / 1000 }'; }
python3 "$WORK/world.py" "$WORK" "$SECONDS_TOTAL" "$(seconds $INTERVAL_MS)" "$(seconds $TIMEOUT_MS)" \
    "$FALL" "$IDLE_TIMEOUT_S" >"$WORK/world.out" 2>"$WORK/world.err" &
PIDS+=("$!")
WORLD_PID=$!
for _ in $(seq 200); do
    [[ -s "$WORK/ports" ]] && break
    kill -0 "$WORLD_PID" 2>/dev/null || break
    sleep 0.05
done
if ! [[ -s "$WORK/ports" ]]; then
    echo "the mock backends did not start:" >&2
    cat "$WORK/world.err" >&2
    exit 1
fi
read -r HTTP_PORT TCP_PORT <"$WORK/ports"

# zone SERIAL: the zone served, with a TXT that changes on every reload.
zone() {
    cat <<EOF
\$ORIGIN soak.test.
\$TTL 300
@   IN SOA ns.soak.test. hostmaster.soak.test. $1 7200 3600 1209600 60
@   IN NS  ns
ns  IN A   192.0.2.1
reload IN TXT "$1"
fo 5 IN A 127.0.0.21 ; healthdns failover=primary   check=web all-down=empty
fo 5 IN A 127.0.0.22 ; healthdns failover=secondary check=web all-down=empty
fo 5 IN A 127.0.0.23 ; healthdns failover=3         check=web all-down=empty
mv 5 IN A 127.0.0.24 ; healthdns multivalue check=tcp max=3 all-down=empty
mv 5 IN A 127.0.0.25 ; healthdns multivalue check=tcp max=3 all-down=empty
mv 5 IN A 127.0.0.26 ; healthdns multivalue check=tcp max=3 all-down=empty
mv 5 IN A 127.0.0.27 ; healthdns multivalue check=tcp max=3 all-down=empty
wt 5 IN A 127.0.0.28 ; healthdns weighted=50 check=web all-down=empty
wt 5 IN A 127.0.0.29 ; healthdns weighted=30 check=web all-down=empty
wt 5 IN A 127.0.0.30 ; healthdns weighted=20 check=web all-down=empty
EOF
    for i in $(seq 0 99); do echo "h$i IN A 192.0.2.$((i + 100))"; done
}
config() {
    cat <<EOF
[server]
tcp-idle-timeout = "${IDLE_TIMEOUT_S}s"

[check.web]
type = "http"
port = $HTTP_PORT
path = "/health"
interval = "${INTERVAL_MS}ms"
timeout = "${TIMEOUT_MS}ms"
fall = $FALL
rise = $RISE

[check.tcp]
type = "tcp"
port = $TCP_PORT
interval = "${INTERVAL_MS}ms"
timeout = "${TIMEOUT_MS}ms"
fall = $FALL
rise = $RISE

[[zone]]
file = "soak.test.zone"
EOF
}
# put FILE: standard input replaces FILE in one rename (a reload never
# reads half a file).
put() {
    cat >"$1.tmp"
    mv "$1.tmp" "$1"
}
SERIAL=1
zone $SERIAL | put "$WORK/soak.test.zone"
config | put "$WORK/healthdns.toml"

# The files exist before the server starts: the shell opens a background
# command's redirections in the child, which may not have run yet when the
# loop below first reads them.
: >"$WORK/healthdns.out"
: >"$WORK/healthdns.err"
"$BIN" serve --config "$WORK/healthdns.toml" --listen 127.0.0.1:0 \
    >"$WORK/healthdns.out" 2>"$WORK/healthdns.err" &
PIDS+=("$!")
SERVER_PID=$!
DNS_PORT=
for _ in $(seq 600); do
    DNS_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/healthdns.out" | head -1)
    [[ -n "$DNS_PORT" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
done
if [[ -z "$DNS_PORT" ]]; then
    echo "healthdns did not start:" >&2
    cat "$WORK/healthdns.out" "$WORK/healthdns.err" >&2
    exit 1
fi

awk 'BEGIN { srand(7); for (i = 0; i < 100000; i++) { r = rand();
    if (r < 0.55) printf "h%d.soak.test A\n", int(rand() * 100);
    else if (r < 0.65) printf "nx%d.soak.test A\n", int(rand() * 100000);
    else if (r < 0.7) print "reload.soak.test TXT";
    else if (r < 0.8) print "fo.soak.test A";
    else if (r < 0.9) print "mv.soak.test A";
    else print "wt.soak.test A" } }' >"$WORK/queries"

echo "$DNS_PORT" | put "$WORK/dnsport"
T0=$(date +%s)
echo "healthdns $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') on 127.0.0.1:$DNS_PORT," \
    "$SECONDS_TOTAL s at $QPS queries/s; backends HTTP :$HTTP_PORT, TCP :$TCP_PORT"

dnsperf -s 127.0.0.1 -p "$DNS_PORT" -d "$WORK/queries" -l "$SECONDS_TOTAL" -Q "$QPS" \
    >"$WORK/dnsperf.out" 2>&1 &
PIDS+=("$!")
DNSPERF_PID=$!

# RSS (kB) and open fds of the server, once a second.
(
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status" 2>/dev/null) || break
        fds=$(ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l)
        echo "$(($(date +%s) - T0)) $rss $fds"
        sleep 1
    done
) >"$WORK/usage" &
PIDS+=("$!")

# The reloads: every 5 s; every fourth with a broken zone or config, put
# back right after the refusal.
outcomes() { grep -c -e "$1" "$WORK/healthdns.err" || true; }
RELOADS=0 BROKEN=0 ACCEPTED=0 REFUSED=0 UNSETTLED=0
while kill -0 "$DNSPERF_PID" 2>/dev/null && (($(date +%s) - T0 < SECONDS_TOTAL - 5)); do
    sleep 5
    RELOADS=$((RELOADS + 1))
    before_ok=$(outcomes ' reloaded')
    before_bad=$(outcomes 'reload refused')
    broken=
    if ((RELOADS % 4 == 0)); then
        BROKEN=$((BROKEN + 1))
        if ((BROKEN % 2)); then
            { zone $SERIAL; echo "broken IN A not-an-address"; } | put "$WORK/soak.test.zone"
            broken=zone
        else
            { config; echo "no-such-key = true"; } | put "$WORK/healthdns.toml"
            broken=config
        fi
    else
        SERIAL=$((SERIAL + 1))
        zone $SERIAL | put "$WORK/soak.test.zone"
    fi
    kill -HUP "$SERVER_PID" 2>/dev/null || break
    settled=
    for _ in $(seq 100); do
        if (($(outcomes ' reloaded') > before_ok)); then
            settled=ok
            break
        elif (($(outcomes 'reload refused') > before_bad)); then
            settled=refused
            break
        fi
        sleep 0.05
    done
    case $settled in
    ok) ACCEPTED=$((ACCEPTED + 1)) ;;
    refused) REFUSED=$((REFUSED + 1)) ;;
    *) UNSETTLED=$((UNSETTLED + 1)) ;;
    esac
    if [[ -n $broken ]]; then
        [[ $settled == refused ]] || echo "reload $RELOADS: a broken $broken was $settled, not refused" >&2
        zone $SERIAL | put "$WORK/soak.test.zone"
        config | put "$WORK/healthdns.toml"
    fi
done
wait "$DNSPERF_PID" || true
wait "$WORLD_PID" || true

echo "--- $(date -u +%F) soak, $SECONDS_TOTAL s"
grep -E 'Queries (sent|completed|lost)|Queries per second' "$WORK/dnsperf.out" | sed 's/^ *//'
# The median of five samples from the given second on, of a column.
at() { awk -v s="$1" -v c="$2" '$1 >= s && n < 5 { print $c; n++ }' "$WORK/usage" | sort -n | sed -n 3p; }
END_S=$((SECONDS_TOTAL - 6)) # the last five seconds under load
EARLY=5              # the load and the clients have started
WARM=$((SECONDS_TOTAL / 10)) # allocator and buffers have grown to the load
((WARM > EARLY)) || WARM=$EARLY
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f %%", (b - a) * 100 / a }'; }
for col in 2 3; do
    what=$([[ $col == 2 ]] && echo "RSS (kB)" || echo "open fds")
    a=$(at $EARLY $col) b=$(at $WARM $col) c=$(at $END_S $col)
    max=$(awk -v c=$col '{ print $c }' "$WORK/usage" | sort -n | tail -1)
    if ((WARM > EARLY)); then
        echo "server $what: $a at ${EARLY} s, $b at ${WARM} s, $c at the end ($(pct "$a" "$c") from ${EARLY} s, $(pct "$b" "$c") from ${WARM} s); max $max"
    else
        echo "server $what: $a at ${EARLY} s, $c at the end ($(pct "$a" "$c")); max $max"
    fi
done
echo "reloads: $RELOADS sent, $BROKEN broken; accepted $ACCEPTED (want $((RELOADS - BROKEN))), refused $REFUSED (want $BROKEN), no outcome within 5 s: $UNSETTLED"
cat "$WORK/world.out"
if [[ -s "$WORK/world.err" ]]; then
    echo "mock world errors:" >&2
    cat "$WORK/world.err" >&2
fi
panics=$(grep -c -i panick "$WORK/healthdns.err" || true)
echo "server panics: $panics; server alive at the end: $(kill -0 "$SERVER_PID" 2>/dev/null && echo yes || echo no)"
