#!/bin/bash
# The network benchmark with N server threads (issue #16; docs/BENCHMARKS.md, section
# 7): for each N, `net --server-threads N` with the servers pinned to the first N
# usable CPUs and `net` itself (the echo load's threads and wrk) to the rest, so the
# two sides never share a CPU. Echo and HTTP at 1000 connections by default.
#
#   bench/scripts/net-threads.sh                  # N = 1 4 8, 3 rounds of 3 s
#   THREADS="2 4" NET_ARGS="--secs 2 --rounds 5 --conns 100,1000" bench/scripts/net-threads.sh
#   BIN=/some/dir bench/scripts/net-threads.sh    # prebuilt binaries, no cargo
#
# BIN holds net, net_tokio_echo, net_tokio_http, net_std_echo, net_patched_echo and
# examples/{echo_server,http_server} (the layout of target/release). wrk and taskset
# must be on PATH. OUT (default: a temp dir) receives lscpu's report and each N's
# tables as net-N.md.
set -eu
cd "$(dirname "$0")/../.."
THREADS=${THREADS:-1 4 8}
NET_ARGS=${NET_ARGS:---secs 3 --rounds 3 --conns 1000}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p examples --example echo_server --example http_server
    cargo build --release -q -p bench --bin net --bin net_tokio_echo --bin net_tokio_http \
        --bin net_std_echo --bin net_patched_echo
    BIN=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release
fi
for tool in wrk taskset; do
    command -v $tool >/dev/null || { echo "$tool is not on PATH" >&2; exit 1; }
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
lscpu >"$OUT/lscpu.txt"

# The CPUs this process may use, from Cpus_allowed_list ("0-3,8,10-11").
cpus=()
for part in $(sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status | tr , ' '); do
    if [[ $part == *-* ]]; then
        for ((c = ${part%-*}; c <= ${part#*-}; c++)); do cpus+=("$c"); done
    else
        cpus+=("$part")
    fi
done
join() { local IFS=,; echo "$*"; }

echo "$(date -u), $(nproc) CPUs usable, results in $OUT"
for n in $THREADS; do
    if ((${#cpus[@]} < n + 1)); then
        echo "N=$n: skipped, ${#cpus[@]} CPUs leave none for the clients" >&2
        continue
    fi
    server=$(join "${cpus[@]:0:n}")
    client=$(join "${cpus[@]:n}")
    client_threads=$((${#cpus[@]} - n))
    ((client_threads > 12)) && client_threads=12
    echo
    echo "## N=$n: servers on CPUs $server, clients on $client"
    # shellcheck disable=SC2086 # NET_ARGS is a list of options
    taskset -c "$client" "$BIN/net" $NET_ARGS --only echo,http \
        --client-threads "$client_threads" --server-threads "$n" --server-cpus "$server" |
        tee "$OUT/net-$n.md"
done
