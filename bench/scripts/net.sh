#!/bin/sh
# The network benchmark (docs/BENCHMARKS.md, section 7): builds the servers and the
# load client in release mode, installs wrk if it is missing, raises the fd limit,
# and runs `net`, which starts every server on 127.0.0.1 and prints the tables.
#
#   bench/scripts/net.sh [net options: --secs S --rounds R --conns 100,1000 --idle 1000,10000 ...]
#
# wrk is installed with apt-get (needs root).
set -eu
cd "$(dirname "$0")/../.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "installing wrk with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

cargo build --release -q -p examples --example echo_server --example http_server
cargo build --release -q -p bench --bin net --bin net_tokio_echo --bin net_tokio_http --bin net_std_echo --bin net_patched_echo

# 10000 idle connections need 10000 fds in the server and as many in the client.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

target=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "$target/release/net" "$@"
