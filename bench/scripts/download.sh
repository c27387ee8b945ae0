#!/usr/bin/env bash
# The downloader benchmark (issue 7): the `download` example against curl and
# tokio + reqwest, all fetching the same files from a local nginx, in one run.
#
#   bench/scripts/download.sh            # from anywhere; RUNS, SMALL, LARGE... below
#
# What it does, in order:
#   1. installs nginx, curl and GNU time with apt-get if any is missing (root or sudo -n);
#   2. builds `download` (examples, release) and the reqwest peer
#      (bench/peers/reqwest-download, a standalone crate CI never builds);
#   3. writes SMALL files of 10 KiB and LARGE files of 1 MiB (random bytes) into a
#      temp dir and serves them with an nginx of its own on 127.0.0.1:PORT (its own
#      config and prefix in the temp dir, keep-alive on, access log off; the system's
#      nginx config and service are not touched);
#   4. for each set, RUNS rounds; each round runs every client once, in turns (each
#      round starting with the next client), into a
#      fresh output dir (on tmpfs, /dev/shm, unless OUT_BASE says otherwise: on a shared
#      VM disk, creating 2000 files costs ~1 ms each and varies with the neighbours'
#      I/O, which would swamp the clients' own costs), at most CONCURRENCY at once:
#        gevent-rs   download -c N -o DIR -i urls.txt        (one thread, greenlets)
#        curl        curl --parallel --parallel-max N        (one thread, libcurl multi)
#        reqwest     reqwest-download -c N                   (tokio current_thread)
#        reqwest-mt  reqwest-download -c N --threads 2       (tokio multi_thread, reference)
#      measuring wall time (date, around the process), CPU time (user + sys) and peak
#      RSS (/usr/bin/time), then checking that every file arrived whole (count, sizes, and a cmp of two);
#   5. prints a table of medians with ratios (gevent-rs / peer) and the two targets,
#      stops nginx and removes the temp dir (also on error or Ctrl-C).
#
# Environment: SMALL (2000), LARGE (200), CONCURRENCY (100), RUNS (5), PORT (a free one),
# NGINX_WORKERS (1), SETS ("small large"), OUT_BASE (/dev/shm; where the output dirs go),
# CARGO_TARGET_DIR (where both builds go; default: each workspace's own target/),
# DOWNLOAD (a prebuilt `download` to time instead, e.g. another commit's; no build then),
# KEEP_TMP=1 (keep the temp dir for inspection).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SMALL="${SMALL:-2000}"
LARGE="${LARGE:-200}"
CONCURRENCY="${CONCURRENCY:-100}"
RUNS="${RUNS:-5}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
SETS="${SETS:-small large}"
SMALL_BYTES=$((10 * 1024))
LARGE_BYTES=$((1024 * 1024))

say() { printf '%s\n' "$*" >&2; }
die() { say "download.sh: $*"; exit 1; }

# --- 1. tools ---------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    say "installing ${missing[*]} with apt-get"
    $sudo apt-get update -q >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# --- 2. builds ---------------------------------------------------------------------------
say "building download and the reqwest peer (release)"
if [ -z "${DOWNLOAD:-}" ]; then
    cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p examples --bin download
    DOWNLOAD="${CARGO_TARGET_DIR:-$ROOT/target}/release/download"
fi
cargo build --release --quiet --manifest-path "$ROOT/bench/peers/reqwest-download/Cargo.toml"
REQWEST="${CARGO_TARGET_DIR:-$ROOT/bench/peers/reqwest-download/target}/release/reqwest-download"
[ -x "$DOWNLOAD" ] || die "no $DOWNLOAD"
[ -x "$REQWEST" ] || die "no $REQWEST"

# --- 3. files and nginx ------------------------------------------------------------------
TMP="$(mktemp -d /tmp/gevent-rs-download-bench.XXXXXX)"
OUT_BASE="${OUT_BASE:-/dev/shm}"
[ -d "$OUT_BASE" ] && [ -w "$OUT_BASE" ] || OUT_BASE="$TMP"
OUT="$(mktemp -d "$OUT_BASE/gevent-rs-download-out.XXXXXX")"
# nginx's workers drop to an unprivileged user: they must be able to read the files.
chmod 755 "$TMP"
NGINX_PREFIX="$TMP/nginx"
stop_nginx() {
    if [ -s "$NGINX_PREFIX/nginx.pid" ]; then
        "$NGINX" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" \
            -s stop 2>/dev/null || true
        for _ in $(seq 50); do [ -e "$NGINX_PREFIX/nginx.pid" ] || break; sleep 0.1; done
    fi
}
cleanup() {
    stop_nginx
    rm -rf "$OUT"
    if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "writing $SMALL x 10 KiB and $LARGE x 1 MiB into $TMP/www"
mkdir -p "$TMP/www/small" "$TMP/www/large" "$NGINX_PREFIX"
head -c "$SMALL_BYTES" /dev/urandom >"$TMP/small.blob"
head -c "$LARGE_BYTES" /dev/urandom >"$TMP/large.blob"
for i in $(seq -w 1 "$SMALL"); do cp "$TMP/small.blob" "$TMP/www/small/s$i.bin"; done
for i in $(seq -w 1 "$LARGE"); do cp "$TMP/large.blob" "$TMP/www/large/l$i.bin"; done
chmod -R a+rX "$TMP/www"

if [ -z "${PORT:-}" ]; then
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 18080)"
fi
# Temp paths this nginx build knows (nginx -V), moved into the prefix so nothing under
# /var/lib/nginx is needed or touched.
temp_paths="$("$NGINX" -V 2>&1 | grep -o -- '--http-[a-z-]*-temp-path' | sed -e 's/--http-//' \
    -e 's/-temp-path//' -e 's/-/_/g' | while read -r kind; do
        mkdir -p "$NGINX_PREFIX/$kind"
        echo "        ${kind}_temp_path $NGINX_PREFIX/$kind;"
    done)"
cat >"$NGINX_PREFIX/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $NGINX_PREFIX/nginx.pid;
error_log $NGINX_PREFIX/error.log warn;
events { worker_connections 4096; }
http {
$temp_paths
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/www;
    }
}
EOF
"$NGINX" -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -e "$NGINX_PREFIX/error.log" \
    || die "nginx did not start: $(cat "$NGINX_PREFIX/error.log" 2>/dev/null)"
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 50); do curl -sf -o /dev/null "$BASE/small/s$(seq -w 1 "$SMALL" | head -1).bin" && break; sleep 0.1; done
curl -sf -o /dev/null "$BASE/large/l$(seq -w 1 "$LARGE" | head -1).bin" || die "nginx does not serve on $BASE"

for i in $(seq -w 1 "$SMALL"); do echo "$BASE/small/s$i.bin"; done >"$TMP/small.txt"
for i in $(seq -w 1 "$LARGE"); do echo "$BASE/large/l$i.bin"; done >"$TMP/large.txt"
# curl reads its URLs from a config file: one `url` line each, saved under the remote name.
for set in small large; do sed 's/.*/url = "&"/' "$TMP/$set.txt" >"$TMP/$set.curl"; done

# --- 4. runs -----------------------------------------------------------------------------
CLIENTS="gevent-rs curl reqwest reqwest-mt"
client_command() { # client set out_dir -> the command in CMD
    local urls="$TMP/$2.txt"
    case "$1" in
        gevent-rs) CMD=("$DOWNLOAD" -c "$CONCURRENCY" -o "$3" -i "$urls") ;;
        curl) CMD=(curl --parallel --parallel-max "$CONCURRENCY" --silent --show-error --fail
            --remote-name-all --output-dir "$3" --config "$TMP/$2.curl") ;;
        reqwest) CMD=("$REQWEST" -c "$CONCURRENCY" -o "$3" -i "$urls") ;;
        reqwest-mt) CMD=("$REQWEST" -c "$CONCURRENCY" -o "$3" -i "$urls" --threads 2) ;;
    esac
}
check_output() { # set out_dir client
    local count bytes wrong first last
    if [ "$1" = small ]; then count=$SMALL; bytes=$SMALL_BYTES; else count=$LARGE; bytes=$LARGE_BYTES; fi
    [ "$(find "$2" -type f | wc -l)" -eq "$count" ] \
        || die "$3/$1: $(find "$2" -type f | wc -l) files, expected $count"
    wrong="$(find "$2" -type f ! -size "${bytes}c" | wc -l)"
    [ "$wrong" -eq 0 ] || die "$3/$1: $wrong files not $bytes bytes"
    first="$(head -1 "$TMP/$1.txt")"; last="$(tail -1 "$TMP/$1.txt")"
    cmp -s "$2/${first##*/}" "$TMP/$1.blob" && cmp -s "$2/${last##*/}" "$TMP/$1.blob" \
        || die "$3/$1: content differs from what nginx served"
}

RESULTS="$TMP/results.tsv" # set client run wall_s rss_kib cpu_s
: >"$RESULTS"
for set in $SETS; do
    for run in $(seq "$RUNS"); do
        # Each round starts with the next client, so no one always follows the same one.
        read -ra order <<<"$CLIENTS"
        shift_by=$(( (run - 1) % ${#order[@]} ))
        order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
        for client in "${order[@]}"; do
            out="$OUT/$client"
            rm -rf "$out"; mkdir -p "$out"
            client_command "$client" "$set" "$out"
            start=$(date +%s%N)
            /usr/bin/time -f '%M %U %S' -o "$TMP/usage" "${CMD[@]}" >"$TMP/stdout" 2>"$TMP/stderr" \
                || die "$client/$set failed: $(tail -3 "$TMP/stderr")"
            end=$(date +%s%N)
            check_output "$set" "$out" "$client"
            wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
            read -r rss user sys < <(tail -1 "$TMP/usage")
            cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$client" "$run" "$wall" "$rss" "$cpu" >>"$RESULTS"
            rm -rf "$out"
            say "$set run $run: $client ${wall} s, cpu ${cpu} s, ${rss} KiB"
        done
    done
done

# --- 5. table ----------------------------------------------------------------------------
say ""
echo "downloader benchmark: $SMALL x 10 KiB and $LARGE x 1 MiB from nginx on 127.0.0.1," \
    "at most $CONCURRENCY at once, median of $RUNS runs, output on $OUT_BASE," \
    "$(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d ' ' -f 1-3 /proc/loadavg)"
echo
echo "| set | client | wall (median) | min – max | throughput | CPU user+sys (median) | peak RSS (max) | gevent-rs / client (wall) |"
echo "|---|---|---|---|---|---|---|---|"
awk -F '\t' -v small="$SMALL" -v large="$LARGE" -v sb="$SMALL_BYTES" -v lb="$LARGE_BYTES" '
    function median(list, n,   sorted, i, j, t) {
        for (i = 1; i <= n; i++) sorted[i] = list[i]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && sorted[j - 1] > sorted[j]; j--) {
            t = sorted[j]; sorted[j] = sorted[j - 1]; sorted[j - 1] = t
        }
        return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
    }
    {
        key = $1 SUBSEP $2
        if (!(key in n)) { order[++keys] = key; lo[key] = $4; hi[key] = $4 }
        walls[key, ++n[key]] = $4
        if ($4 < lo[key]) lo[key] = $4
        if ($4 > hi[key]) hi[key] = $4
        if ($5 > rss[key]) rss[key] = $5
        cpus[key, n[key]] = $6
    }
    END {
        for (k = 1; k <= keys; k++) {
            key = order[k]
            delete list
            for (i = 1; i <= n[key]; i++) list[i] = walls[key, i]
            med[key] = median(list, n[key])
            for (i = 1; i <= n[key]; i++) list[i] = cpus[key, i]
            cpu[key] = median(list, n[key])
        }
        for (k = 1; k <= keys; k++) {
            key = order[k]; split(key, parts, SUBSEP); set = parts[1]; client = parts[2]
            files = set == "small" ? small : large
            bytes = files * (set == "small" ? sb : lb)
            rate = set == "small" \
                ? sprintf("%.0f files/s", files / med[key]) \
                : sprintf("%.0f MiB/s", bytes / 1048576 / med[key])
            ratio = client == "gevent-rs" ? "—" : sprintf("%.2fx", med[set SUBSEP "gevent-rs"] / med[key])
            printf "| %s | %s | %.3f s | %.3f – %.3f s | %s | %.2f s | %.1f MiB | %s |\n", \
                set, client, med[key], lo[key], hi[key], rate, cpu[key], rss[key] / 1024, ratio
        }
        print ""
        if ((("small" SUBSEP "curl") in med)) {
            r = med["small" SUBSEP "gevent-rs"] / med["small" SUBSEP "curl"]
            printf "target small: gevent-rs not slower than curl: %.2fx (%s)\n", r, r <= 1 ? "met" : "NOT met"
        }
        if ((("large" SUBSEP "reqwest") in med)) {
            r = med["large" SUBSEP "gevent-rs"] / med["large" SUBSEP "reqwest"]
            printf "target large: gevent-rs not slower than reqwest (current_thread): %.2fx (%s)\n", \
                r, r <= 1 ? "met" : "NOT met"
        }
    }' "$RESULTS"
