# What the bench scripts share: the config files of the reference servers
# they run beside healthdns, so every script measures them set up alike,
# and small helpers. Sourced by benches/compare.sh and benches/zone1m.sh.

# Every process of a server (NSD forks), for CPU and memory.
tree() {
    local pid=$1
    echo "$pid"
    for child in $(pgrep -P "$pid" 2>/dev/null); do tree "$child"; done
}

# The median of the numbers on standard input, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# nsd_conf DIR PORT ZONEFILE ORIGIN: writes DIR/nsd.conf (one server
# process, no database, no remote control, RRL off: one client on loopback
# would measure the limiter, not the server).
nsd_conf() {
    local dir=$1 port=$2 zone=$3 origin=$4
    mkdir -p "$dir"
    cat >"$dir/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@$port
  server-count: 1
  zonesdir: "$(dirname "$zone")"
  pidfile: "$dir/nsd.pid"
  username: ""
  database: ""
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  logfile: "$dir/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: $origin
  zonefile: "$zone"
CONF
}

# knot_conf DIR PORT ZONEFILE ORIGIN: writes DIR/knot.conf (one UDP, one TCP
# and one background worker, storage in DIR, no journal, no zone file sync).
knot_conf() {
    local dir=$1 port=$2 zone=$3 origin=$4
    mkdir -p "$dir"
    cat >"$dir/knot.conf" <<CONF
server:
  listen: 127.0.0.1@$port
  rundir: "$dir"
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$dir"
template:
  - id: default
    storage: "$dir"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: $origin
    file: "$zone"
CONF
}
