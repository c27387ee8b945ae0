#!/bin/sh
# The network benchmark (docs/BENCHMARKS.md, section 7): builds the servers and the
# load client in release mode, installs wrk if it is missing, raises the fd limit,
# checks the HTTP server with curl (GET, HEAD, keep-alive) and ab (ApacheBench, a
# second load client), then runs `net`, which starts every server on 127.0.0.1 and
# prints the tables.
#
#   bench/scripts/net.sh [net options: --secs S --rounds R --conns 100,1000 --idle 1000,10000 ...]
#
# wrk, curl and ab (apache2-utils) are installed with apt-get (needs root).
set -eu
cd "$(dirname "$0")/../.."

missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v ab >/dev/null 2>&1 || missing="$missing apache2-utils"
if [ -n "$missing" ]; then
    echo "installing$missing with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null
fi

cargo build --release -q -p examples --example echo_server --example http_server
cargo build --release -q -p bench --bin net --bin net_tokio_echo --bin net_tokio_http --bin net_std_echo --bin net_patched_echo

# 10000 idle connections need 10000 fds in the server and as many in the client.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

target=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# curl and ab against the monkey HTTP server: a correctness check and a second load
# client's figure, then a graceful stop on SIGTERM.
out=$(mktemp)
"$target/release/examples/http_server" --addr 127.0.0.1:0 >"$out" &
server=$!
while ! grep -q "listening on" "$out"; do sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$out")
curl -sSf "http://$addr/" | grep -q "Hello, world!"
curl -sSf -I "http://$addr/" | grep -q "Content-Length: 13"
[ "$(curl -sSf "http://$addr/a" "http://$addr/b")" = "Hello, world!Hello, world!" ]
echo "curl: GET, HEAD and keep-alive answered by http_server on $addr"
ab -q -k -c 100 -n 50000 "http://$addr/" | grep -E "Requests per second|Failed requests"
kill -TERM "$server"
wait "$server"
rm -f "$out"

exec "$target/release/net" "$@"
