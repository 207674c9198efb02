#!/usr/bin/env python3
"""Memory of idle TCP connections: the resident set of `healthdns serve`
before, with COUNT connections open and idle, and after they closed.

usage: benches/idle_rss.py BINARY [COUNT] [silent|query]

silent: the connections send nothing; query: each asks one query first
(answered) and then stays idle. The server gets tcp-max-connections above
COUNT and a 60 s idle timeout, so none is closed meanwhile."""
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
mode = sys.argv[3] if len(sys.argv) > 3 else "silent"
zone = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "example.com.zone")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
# www.example.com A, framed for TCP.
QUERY = bytes.fromhex("0021" "12340100000100000000000003777777076578616d706c6503636f6d0000010001")

with tempfile.TemporaryDirectory() as dir:
    config = os.path.join(dir, "healthdns.toml")
    with open(config, "w") as f:
        f.write(f'[server]\ntcp-max-connections = {count + 100}\ntcp-idle-timeout = "60s"\n'
                f'udp-workers = 2\n[[zone]]\nfile = "{os.path.abspath(zone)}"\n')
    server = subprocess.Popen([binary, "serve", "--config", config, "--listen", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(server.stdout.readline().strip().rsplit(":", 1)[1])

    def rss_kib():
        time.sleep(1.5)
        with open(f"/proc/{server.pid}/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))

    def ask(conn):
        conn.sendall(QUERY)
        assert len(conn.recv(4096)) > 12

    # One query first, so that what the first query makes once exists.
    with socket.create_connection(("127.0.0.1", port)) as conn:
        ask(conn)
    before = rss_kib()
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    if mode == "query":
        for conn in conns:
            ask(conn)
    loaded = rss_kib()
    for conn in conns:
        conn.close()
    after = rss_kib()
    server.terminate()
    server.wait()

print(f"{mode}: {count} connections; RSS {before} KiB before, {loaded} KiB with them open "
      f"({(loaded - before) * 1024 // count} bytes each), {after} KiB once closed "
      f"({after - before} KiB above before)")
