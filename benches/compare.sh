#!/usr/bin/env bash
# Serves one generated zone from healthdns, gdnsd, NSD and Knot on loopback,
# each pinned to CPU 1, and runs the same dnsperf query file against each
# from CPU 0. Prints, per server: QPS, queries per server CPU-second, average
# latency, RSS; then p50/p99 latency at half of gdnsd's peak rate; then the
# ratios healthdns/gdnsd and healthdns/NSD; then the same over TCP. In the
# UDP runs gdnsd runs again between every two servers, and each ratio is
# taken against the gdnsd runs around it, where the host kept its speed
# (it changes now and then); their median is printed with each run's. The
# p99 rounds do the same: each server's p99 against gdnsd's just before
# and after it.
#
# Beside the real servers it runs benches/udp_floor.c: the same recvmmsg/
# sendmmsg calls as healthdns and no DNS work, so its queries per CPU-second
# are the ceiling for any server on kernel UDP sockets in the same run.
#
# Where it can (root, a kernel with AF_XDP), it also runs healthdns with
# `--xdp lo` ("healthdns-xdp") and, when knotd is built with XDP, Knot in
# its XDP mode ("knot-xdp"): the same servers answering from AF_XDP sockets
# instead of UDP sockets. On lo that is XDP's generic (copy) mode, and
# replies sent through AF_XDP carry no route, so the script sets
# route_localnet and accept_local on lo for the run and restores them after.
# One XDP program fits an interface, so the XDP servers take turns: each
# is started for its run and stopped after it.
#
# "healthdns-c100" and "healthdns-xdp-c100" are healthdns on sockets and
# on XDP with `udp-coalesce = "100us"`: a worker that drained its queue,
# answered two queries or more since it last waited, and is busy (at its
# rate of queries it would spend at least 55 % of its time on the CPU
# without pauses, the default udp-coalesce-load) pauses 100 us before it
# looks again. They show what that buys in CPU per query at the client's
# peak, and the p50/p99 rounds, at half of gdnsd's peak, whether it costs
# latency there; healthdns's default is no pause.
#
# "healthdns-rrl" and "healthdns-xdp-rrl" are healthdns with `[rate-limit]`
# on at 65,535 responses per second per flow, more than any flow of the mix
# gets at dnsperf's peak: every response is judged and none is limited,
# which is what rate limiting costs a server that is not under attack.
#
# Pinning: taskset alone is not enough, because Knot sets its UDP threads'
# affinity itself (thread N to CPU N mod online CPUs, so its worker ran on
# dnsperf's CPU 0). Where a cpuset cgroup can be made (root, cgroup v1 or
# v2), every server runs inside one holding only CPU 1, which no
# sched_setaffinity call can leave.
#
#   bash benches/compare.sh [SECONDS_PER_RUN=10] [RUNS=3]
#
# The query mix: 60% static A names, 10% NXDOMAIN, and 10% each of a
# failover, a multivalue and a weighted name. For healthdns those three are
# health-filtered sets (annotations without a check: members always up, but
# every answer goes through the dynamic path); the other servers read the
# same zone file, where the annotations are comments, as plain RRsets.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
seconds=${1:-10}
runs=${2:-3}
# The pause of the "-c100" rows (udp-coalesce).
coalesce=100us

need=()
for tool in dnsperf:dnsperf gdnsd:gdnsd nsd:nsd knotd:knot taskset:util-linux cc:gcc; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release --quiet
bin=$PWD/target/release/healthdns

work=$(mktemp -d)
cc -O2 -o "$work/udp_floor" benches/udp_floor.c
pids=()
cpuset=
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$cpuset" ]; then
        # Anything a server forked and left behind is in the cpuset too.
        for pid in $(cat "$cpuset/cgroup.procs" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
        sleep 0.2
        rmdir "$cpuset" 2>/dev/null || true
    fi
    if [ -n "$xdp_sysctls" ]; then
        ip link set dev lo xdpgeneric off 2>/dev/null || true
        sysctl -q -w $xdp_sysctls || true
    fi
    rm -rf "$work"
}
xdp_sysctls=
trap cleanup EXIT

# A cpuset cgroup holding only CPU 1, and the file that moves a process in.
if [ -d /sys/fs/cgroup/cpuset ] && mkdir -p "/sys/fs/cgroup/cpuset/healthdns-compare-$$" 2>/dev/null; then
    cpuset=/sys/fs/cgroup/cpuset/healthdns-compare-$$
    echo 1 >"$cpuset/cpuset.cpus" && echo 0 >"$cpuset/cpuset.mems" && procs=$cpuset/cgroup.procs || cpuset=
elif grep -qw cpuset /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
    echo +cpuset >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null &&
    mkdir -p "/sys/fs/cgroup/healthdns-compare-$$" 2>/dev/null; then
    cpuset=/sys/fs/cgroup/healthdns-compare-$$
    echo 1 >"$cpuset/cpuset.cpus" && procs=$cpuset/cgroup.procs || cpuset=
fi
[ -n "$cpuset" ] || echo "note: no cpuset cgroup here; servers pinned with taskset only (Knot moves its UDP thread)" >&2
# Runs a server confined to CPU 1. Call it with & only: it moves the
# background subshell into the cpuset and execs the server in its place, so
# $! is the server's own pid.
on_cpu1() {
    [ -z "$cpuset" ] || echo "$BASHPID" >"$procs"
    exec taskset -c 1 "$@"
}

# --- the zone and the queries ----------------------------------------------
zone=$work/bench.test.zone
{
    printf '$ORIGIN bench.test.\n$TTL 300\n'
    printf '@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n@ NS ns2\n'
    printf 'ns1 A 192.0.2.1\nns2 A 192.0.2.2\n'
    for i in $(seq 0 999); do printf 'h%d A 198.51.%d.%d\n' "$i" $((i / 250)) $((i % 250 + 1)); done
    printf 'api 30 A 192.0.2.10 ; healthdns failover=primary\n'
    printf 'api 30 A 192.0.2.11 ; healthdns failover=secondary\n'
    printf 'www 20 A 192.0.2.21 ; healthdns multivalue max=2\n'
    printf 'www 20 A 192.0.2.22 ; healthdns multivalue\n'
    printf 'www 20 A 192.0.2.23 ; healthdns multivalue\n'
    printf 'cdn 60 A 192.0.2.31 ; healthdns weighted=70\n'
    printf 'cdn 60 A 192.0.2.32 ; healthdns weighted=30\n'
} >"$zone"
queries=$work/queries
awk 'BEGIN { srand(7); for (i = 0; i < 100000; i++) { r = rand();
    if (r < 0.6) printf "h%d.bench.test A\n", int(rand() * 1000);
    else if (r < 0.7) printf "nx%d.bench.test A\n", int(rand() * 100000);
    else if (r < 0.8) print "api.bench.test A";
    else if (r < 0.9) print "www.bench.test A";
    else print "cdn.bench.test A" } }' >"$queries"

# --- the servers -----------------------------------------------------------
port=15300
# healthdns as the row NAME on PORT, with ARGS before the zone.
start_healthdns_as() { # NAME PORT ARGS...
    local name=$1 on=$2
    shift 2
    on_cpu1 "$bin" serve --listen "127.0.0.1:$on" "$@" "$zone" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
}
start_healthdns() { start_healthdns_as healthdns "$1"; }
start_gdnsd() {
    mkdir -p "$work/gdnsd/zones"
    cp "$zone" "$work/gdnsd/zones/bench.test"
    printf 'options => {\n  listen => [ 127.0.0.1:%s ]\n  udp_threads => 1\n  tcp_threads => 1\n}\n' "$1" >"$work/gdnsd/config"
    on_cpu1 gdnsd -c "$work/gdnsd" start >"$work/gdnsd.log" 2>&1 &
    pids+=($!)
}
start_nsd() {
    nsd_conf "$work/nsd" "$1" "$zone" bench.test
    on_cpu1 nsd -d -c "$work/nsd/nsd.conf" >"$work/nsd.log" 2>&1 &
    pids+=($!)
}
start_knot() {
    knot_conf "$work/knot" "$1" "$zone" bench.test
    on_cpu1 knotd -c "$work/knot/knot.conf" >"$work/knot.log" 2>&1 &
    pids+=($!)
}
start_knot-xdp() {
    knot_conf "$work/knot-xdp" $(($1 + 1000)) "$zone" bench.test
    sed -i "s/^database:/xdp:\n  listen: lo@$1\n  udp: on\ndatabase:/" "$work/knot-xdp/knot.conf"
    on_cpu1 knotd -c "$work/knot-xdp/knot.conf" >"$work/knot-xdp.log" 2>&1 &
    pids+=($!)
}
start_healthdns-xdp() { start_healthdns_as healthdns-xdp "$1" --xdp lo; }
# The same two with udp-coalesce: CPU per query against latency.
printf '[server]\nudp-coalesce = "%s"\n' "$coalesce" >"$work/coalesce.toml"
start_healthdns-c100() { start_healthdns_as healthdns-c100 "$1" --config "$work/coalesce.toml"; }
start_healthdns-xdp-c100() { start_healthdns_as healthdns-xdp-c100 "$1" --config "$work/coalesce.toml" --xdp lo; }
# And with rate limiting on, limiting nothing: what judging costs.
printf '[rate-limit]\nresponses-per-second = 65535\n' >"$work/rrl.toml"
start_healthdns-rrl() { start_healthdns_as healthdns-rrl "$1" --config "$work/rrl.toml"; }
start_healthdns-xdp-rrl() { start_healthdns_as healthdns-xdp-rrl "$1" --config "$work/rrl.toml" --xdp lo; }
# XDP can run here: root and a kernel with AF_XDP (Knot also needs libxdp).
xdp_possible() {
    [ "$(id -u)" = 0 ] && grep -q '^XDP ' /proc/net/protocols 2>/dev/null
}
knot_has_xdp() { ldd "$(command -v knotd)" 2>/dev/null | grep -q libxdp; }
start_floor() {
    on_cpu1 "$work/udp_floor" "$1" >"$work/floor.log" 2>&1 &
    pids+=($!)
}

cpu_ticks() { # user and system ticks of the whole tree
    local user=0 system=0 u s
    for pid in $(tree "$1"); do
        [ -r "/proc/$pid/stat" ] || continue
        # utime and stime are fields 14 and 15; the name may hold spaces.
        read -r u s < <(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12, $13 }')
        user=$((user + u)) system=$((system + s))
    done
    echo "$user $system"
}
# Warns when a thread of the server may run on a CPU other than 1.
check_pinned() {
    local pid task allowed
    for pid in $(tree "$2"); do
        for task in /proc/"$pid"/task/*; do
            allowed=$(awk '/^Cpus_allowed_list/ { print $2 }' "$task/status" 2>/dev/null || true)
            [ -z "$allowed" ] || [ "$allowed" = 1 ] ||
                echo "warning: $1 thread ${task##*/} may run on CPUs $allowed" >&2
        done
    done
}
rss_kib() {
    local total=0
    for pid in $(tree "$1"); do
        total=$((total + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
wait_ready() { # the floor answers with the query itself: any reply will do
    local want=192.0.2.1
    [ "$2" != floor ] || want=NOERROR
    for _ in $(seq 100); do
        dig +tries=1 +time=1 @127.0.0.1 -p "$1" ns1.bench.test A 2>/dev/null | grep -q "$want" && return 0
        sleep 0.1
    done
    echo "server on port $1 never answered" >&2
    return 1
}

hz=$(getconf CLK_TCK)
declare -A qps per_cpu user_share latency rss port_of pid_of
servers=(gdnsd nsd knot healthdns healthdns-c100 healthdns-rrl floor)
if xdp_possible; then
    saved=
    for key in net.ipv4.conf.lo.route_localnet net.ipv4.conf.lo.accept_local; do
        saved+="$key=$(sysctl -n "$key") "
    done
    xdp_sysctls=$saved
    sysctl -q -w net.ipv4.conf.lo.route_localnet=1 net.ipv4.conf.lo.accept_local=1
    servers+=(healthdns-xdp healthdns-xdp-c100 healthdns-xdp-rrl)
    if knot_has_xdp; then servers+=(knot-xdp); else echo "note: this knotd has no XDP mode" >&2; fi
else
    echo "note: no XDP rows (they need root and a kernel with AF_XDP)" >&2
fi
# Whether SERVER is in this run (the XDP ones may not be).
serving() { [[ " ${servers[*]} " == *" $1 "* ]]; }
# One XDP program per interface: the XDP servers take turns on lo, each
# started for its run and stopped after it; the others start once.
exclusive() { [[ $1 == *-xdp* ]]; }
up() {
    port=$((port + 1))
    "start_$1" "$port"
    pid_of[$1]=${pids[-1]}
    port_of[$1]=$port
    wait_ready "$port" "$1"
    # Sanity: the health-filtered names answer.
    [ "$1" = floor ] || dig +short @127.0.0.1 -p "$port" www.bench.test A | grep -q 192.0.2.2 ||
        { echo "$1: bad answer" >&2; exit 1; }
}
down() {
    local pid=${pid_of[$1]}
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    # Knot's libxdp attachment can outlive it; healthdns's goes with it.
    ip link set dev lo xdpgeneric off 2>/dev/null || true
}
printf '%-18s %4s %12s %14s %8s %12s %10s\n' server run QPS 'QPS/CPU-s' 'user %' 'avg lat ms' 'RSS MiB'
for server in "${servers[@]}"; do
    exclusive "$server" || up "$server"
done
# VALUE's share of the mean of BEFORE and AFTER, or "-" when those two
# differ by more than 15 %.
share() { # VALUE BEFORE AFTER
    awk -v v="$1" -v a="$2" -v b="$3" 'BEGIN { d = (a > b ? a / b : b / a)
        if (a > 0 && b > 0 && d <= 1.15) printf "%.4f", 2 * v / (a + b); else print "-" }'
}
# One UDP run of dnsperf against SERVER in run RUN: prints its row and
# leaves its queries per CPU-second in $measured. A row of the server's
# own (no LABEL) also adds its figures to the server's lists; a LABEL
# names a row that only serves as a reference.
measure() { # SERVER RUN [LABEL]
    local server=$1 run=$2 label=${3:-$1} pid user0 system0 user1 system1 ticks
    local completed q lat cpu pc user_pct mem
    pid=${pid_of[$server]}
    read -r user0 system0 < <(cpu_ticks "$pid")
    taskset -c 0 dnsperf -s 127.0.0.1 -p "${port_of[$server]}" -d "$queries" -l "$seconds" -c 4 -q 256 >"$work/out" 2>&1
    read -r user1 system1 < <(cpu_ticks "$pid")
    check_pinned "$server" "$pid"
    ticks=$((user1 - user0 + system1 - system0))
    completed=$(awk '/Queries completed:/ { print $3 }' "$work/out")
    q=$(awk '/Queries per second:/ { printf "%.0f", $4 }' "$work/out")
    lat=$(awk '/Average Latency/ { printf "%.3f", $4 * 1000 }' "$work/out")
    cpu=$(awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }')
    pc=$(awk -v c="$completed" -v s="$cpu" 'BEGIN { printf "%.0f", (s > 0 ? c / s : 0) }')
    user_pct=$(awk -v u=$((user1 - user0)) -v t="$ticks" 'BEGIN { printf "%.1f", (t > 0 ? 100 * u / t : 0) }')
    mem=$(awk -v k="$(rss_kib "$pid")" 'BEGIN { printf "%.1f", k / 1024 }')
    printf '%-18s %4s %12s %14s %8s %12s %10s\n' "$label" "$run" "$q" "$pc" "$user_pct" "$lat" "$mem"
    measured=$pc
    [ -z "${3:-}" ] || return 0
    qps[$server]+="$q "
    per_cpu[$server]+="$pc "
    user_share[$server]+="$user_pct "
    latency[$server]+="$lat "
    rss[$server]=$mem
}
# Runs alternate between the servers, so a burst of load elsewhere on the
# machine falls on all of them rather than on one. This host also changes
# speed for minutes at a time (gdnsd at 440k and then 800k queries per
# CPU-second within one run, and back), so gdnsd runs again before every
# other server and once more at the end: each server's figure is taken
# against the mean of the gdnsd runs just before and after it, and counts
# only when those two agree within 15 % (the host kept its speed around
# it). `norm` holds those shares of gdnsd, a run's "-" where it did not.
declare -A norm
for run in $(seq "$runs"); do
    measure gdnsd "$run"
    before=$measured
    norm[gdnsd]+="1 "
    previous=
    for server in "${servers[@]}"; do
        [ "$server" != gdnsd ] || continue
        if [ -n "$previous" ]; then
            measure gdnsd "$run" "gdnsd (between)"
            norm[$previous]+="$(share "$last" "$before" "$measured") "
            before=$measured
        fi
        ! exclusive "$server" || up "$server"
        measure "$server" "$run"
        last=$measured
        ! exclusive "$server" || down "$server"
        previous=$server
    done
    measure gdnsd "$run" "gdnsd (between)"
    norm[$previous]+="$(share "$last" "$before" "$measured") "
done
echo
printf '%-18s %12s %14s %8s %12s %10s   (medians of %s runs of %ss)\n' server QPS 'QPS/CPU-s' 'user %' 'avg lat ms' 'RSS MiB' "$runs" "$seconds"
for server in "${servers[@]}"; do
    printf '%-18s %12s %14s %8s %12s %10s\n' "$server" \
        "$(tr ' ' '\n' <<<"${qps[$server]}" | grep . | median)" \
        "$(tr ' ' '\n' <<<"${per_cpu[$server]}" | grep . | median)" \
        "$(tr ' ' '\n' <<<"${user_share[$server]}" | grep . | median)" \
        "$(tr ' ' '\n' <<<"${latency[$server]}" | grep . | median)" "${rss[$server]}"
done
echo "(user %: the share of the server's CPU time spent in user space; the rest is the kernel's)"

# Latency percentiles at half of gdnsd's peak rate, from dnsperf -v: RUNS
# rounds, alternating servers, and the medians of each server's p50 and p99
# (one 5-second p99 rests on its slowest 1%: a single scheduling hiccup of
# this VM moves it by milliseconds). As in the UDP runs, gdnsd runs again
# after every server, and each server's p99 is also taken as a share of
# the mean of gdnsd's p99s just before and after it: the tail moves with
# the host from round to round, and the target is gdnsd's p99 in the same
# conditions.
half=$(($(tr ' ' '\n' <<<"${qps[gdnsd]}" | grep . | median | cut -d. -f1) / 2))
latency_servers=(gdnsd nsd knot healthdns healthdns-c100)
for server in healthdns-xdp healthdns-xdp-c100 knot-xdp; do
    ! serving "$server" || latency_servers+=("$server")
done
declare -A p50s p99s lost_total p99_share
# One 5-second round against SERVER at $half: leaves its p50 and p99 (us)
# in $p50 and $p99 and adds what it lost to the server's total.
latency_round() { # SERVER
    local server=$1 n lost
    taskset -c 0 dnsperf -s 127.0.0.1 -p "${port_of[$server]}" -d "$queries" -l 5 -c 4 -q 256 -Q "$half" -v >"$work/verbose" 2>/dev/null
    awk '/^> / { print $NF * 1000000 }' "$work/verbose" | sort -g >"$work/lat"
    n=$(wc -l <"$work/lat")
    p50=$(awk -v n="$n" 'NR == int(n * 0.50) { printf "%.0f", $1 }' "$work/lat")
    p99=$(awk -v n="$n" 'NR == int(n * 0.99) { printf "%.0f", $1 }' "$work/lat")
    # dnsperf's own count: sent and never answered (it may send a little
    # less than the rate asks, which is not a loss).
    lost=$(awk '/Queries lost:/ { print $3 }' "$work/verbose")
    lost_total[$server]=$((${lost_total[$server]:-0} + ${lost:-0}))
}
for run in $(seq "$runs"); do
    latency_round gdnsd
    p50s[gdnsd]+="$p50 " p99s[gdnsd]+="$p99 "
    before=$p99
    for server in "${latency_servers[@]}"; do
        [ "$server" != gdnsd ] || continue
        ! exclusive "$server" || up "$server"
        latency_round "$server"
        p50s[$server]+="$p50 " p99s[$server]+="$p99 "
        last=$p99
        ! exclusive "$server" || down "$server"
        latency_round gdnsd
        p99_share[$server]+="$(awk -v v="$last" -v a="$before" -v b="$p99" 'BEGIN { printf "%.2f", (a + b > 0 ? 2 * v / (a + b) : 0) }') "
        before=$p99
    done
done
echo
printf '%-18s %10s %10s %10s %10s   (at %s queries/s; medians of %s runs of 5 s; lost: all runs)\n' server 'p50 us' 'p99 us' 'p99/gdnsd' lost "$half" "$runs"
for server in "${latency_servers[@]}"; do
    share=-
    [ "$server" = gdnsd ] || share=$(tr ' ' '\n' <<<"${p99_share[$server]}" | grep . | median)
    printf '%-18s %10s %10s %10s %10s   p99s: %s%s\n' "$server" \
        "$(tr ' ' '\n' <<<"${p50s[$server]}" | grep . | median)" \
        "$(tr ' ' '\n' <<<"${p99s[$server]}" | grep . | median)" "$share" "${lost_total[$server]}" \
        "${p99s[$server]}" "${p99_share[$server]:+ (each against the gdnsd rounds around it: ${p99_share[$server]% })}"
done

# TCP: the same queries over TCP connections (dnsperf keeps each open).
declare -A tcp_per_cpu
echo
printf '%-18s %12s %14s   (TCP, one run of %ss)\n' server QPS 'QPS/CPU-s' "$seconds"
for server in gdnsd nsd knot healthdns; do
    pid=${pid_of[$server]}
    read -r user0 system0 < <(cpu_ticks "$pid")
    taskset -c 0 dnsperf -m tcp -s 127.0.0.1 -p "${port_of[$server]}" -d "$queries" -l "$seconds" -c 4 -q 256 >"$work/out" 2>&1
    read -r user1 system1 < <(cpu_ticks "$pid")
    completed=$(awk '/Queries completed:/ { print $3 }' "$work/out")
    q=$(awk '/Queries per second:/ { printf "%.0f", $4 }' "$work/out")
    cpu=$(awk -v t=$((user1 - user0 + system1 - system0)) -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }')
    tcp_per_cpu[$server]=$(awk -v c="$completed" -v s="$cpu" 'BEGIN { printf "%.0f", (s > 0 ? c / s : 0) }')
    printf '%-18s %12s %14s\n' "$server" "$q" "${tcp_per_cpu[$server]}"
done

echo
awk -v h="${tcp_per_cpu[healthdns]}" -v r="${tcp_per_cpu[gdnsd]}" 'BEGIN { printf "healthdns/gdnsd TCP queries per server CPU-second: %.2f\n", (r > 0 ? h / r : 0) }'
ratio() { # A B: the median over the runs where both counted of A's share of gdnsd over B's
    local a=(${norm[$1]}) b=(${norm[$2]}) each=() i
    for i in "${!a[@]}"; do
        [ "${a[i]}" != - ] && [ "${b[i]}" != - ] || continue
        each+=("$(awk -v a="${a[i]}" -v b="${b[i]}" 'BEGIN { printf "%.2f", a / b }')")
    done
    if ((${#each[@]} == 0)); then
        echo "$1/$2 queries per server CPU-second: no run counted (the host changed speed around every one)"
        return
    fi
    printf '%s queries per server CPU-second: %s   (%s of %s runs: %s)\n' "$1/$2" \
        "$(printf '%s\n' "${each[@]}" | median)" "${#each[@]}" "$runs" "${each[*]}"
}
ratio healthdns gdnsd
ratio healthdns nsd
ratio floor gdnsd
ratio healthdns floor
ratio healthdns-c100 gdnsd
ratio healthdns-c100 healthdns
! serving healthdns-xdp || { ratio healthdns-xdp gdnsd; ratio healthdns-xdp healthdns; }
! serving healthdns-xdp-c100 || { ratio healthdns-xdp-c100 gdnsd; ratio healthdns-xdp-c100 healthdns-xdp; }
ratio healthdns-rrl healthdns
! serving healthdns-xdp-rrl || ratio healthdns-xdp-rrl healthdns-xdp
! serving knot-xdp || { ratio knot-xdp gdnsd; ratio knot-xdp knot; }
! serving healthdns-xdp || ! serving knot-xdp || ratio healthdns-xdp knot-xdp
for server in healthdns healthdns-c100 healthdns-xdp healthdns-xdp-c100; do
    serving "$server" || continue
    printf '%s/gdnsd p99 at half gdnsd peak: %s (target <= 1; median of each round against the gdnsd rounds around it: %s)\n' \
        "$server" "$(tr ' ' '\n' <<<"${p99_share[$server]}" | grep . | median)" "${p99_share[$server]% }"
done
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); $(date -u +%Y-%m-%d)"
