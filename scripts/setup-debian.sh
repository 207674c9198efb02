#!/usr/bin/env bash
# Installs what building, running and testing healthdns needs on Debian 12
# or later: the apt packages below, and checks that a recent enough Rust is
# there (it installs none: get one from rustup.rs first). The one list of
# what the tests need: the README's set-up command and .ci/run both run
# this. Installs only what is missing, so running it again changes nothing
# (and, with nothing missing, needs no network). apt-get goes through sudo
# unless you are root.
set -euo pipefail

# Rust release the code and its locked dependencies build with (edition
# 2024; hickory-proto and ICU ask for 1.88).
min_rust=1.88

packages=(
    gcc libc6-dev        # the linker rustc calls; the C compiler aws-lc-sys (rustls) builds with
    ca-certificates      # HTTPS checks verify against the system's roots
    bind9-dnsutils       # dig: the tests query with it
    bind9-utils          # named-checkzone: the shipped zones must pass BIND's checker
    knot                 # knotd: the differential test's reference server
    openssl              # self-signed HTTPS backends in the health tests
    chromium             # the status page test renders in headless Chromium
    iproute2             # ip: the XDP test brings lo up in its own network namespace
    procps               # kill: the tests signal the server (SIGHUP, SIGTERM)
    etcd-server          # etcd: the cluster tests' shared store
    unbound              # the operator's drill: a resolver in front of healthdns
    prometheus           # the drill's scraper; promtool checks /metrics, the alerting rules and the dashboard's queries
)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$package" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=()
    ((EUID == 0)) || sudo=(sudo)
    echo "setup-debian: installing ${missing[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
fi

cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
export PATH=$cargo_bin:$PATH
if ! command -v cargo >/dev/null; then
    echo "setup-debian: no cargo found: install Rust $min_rust or later (https://rustup.rs), then run this again" >&2
    exit 1
fi
rust=$(rustc --version | awk '{ print $2 }')
if [[ $(printf '%s\n' "$min_rust" "$rust" | sort -V | head -n1) != "$min_rust" ]]; then
    echo "setup-debian: rustc $rust ($(command -v rustc)) is older than $min_rust:" \
        "rustup update stable, or Rust from https://rustup.rs" >&2
    exit 1
fi
echo "setup-debian: ready (rustc $rust; ${#missing[@]} package(s) installed)" >&2
