#!/usr/bin/env bash
# bench/remote.sh — bucketfs HTTP server vs raw disk and nginx, side by side in one run.
#
#   1 GiB PUT (curl --upload-file) vs `dd conv=fdatasync` write rate of the same disk,
#   1 GiB GET (curl -o /dev/null)  vs `cat FILE > /dev/null`,
#   4 KiB PUT and GET req/s with 64 connections (wrk) vs nginx (WebDAV PUT, static GET).
#
# Medians of RUNS runs; ratios = bucketfs / peer. Needs curl, wrk, nginx-light +
# libnginx-mod-http-dav-ext (apt-get install wrk nginx-light). Usage:
#   bench/remote.sh [WORKDIR]        (env: RUNS=3 SIZE_MB=1024 DURATION=10s CONNS=64;
#                                     SIZE_MB=0 runs only the 4 KiB request rates)
# Note: bucketfs acknowledges a PUT only after fsync of blob and metadata
# (durable); nginx's WebDAV PUT does not fsync.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-1024}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
W=${1:-$(mktemp -d /tmp/bfs-bench.XXXXXX)}
OWNW=${1:+no}
mkdir -p "$W"
PIDS=()
# stop ends a process we started: TERM, then KILL if it is still there after
# 10 s, and reaps it, so nothing outlives the run (and the bench lock).
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  for p in "${PIDS[@]}"; do stop "$p"; done
  # Data is removed only once every process using it is gone.
  if [ -z "$OWNW" ]; then rm -rf "$W"; else rm -rf "$W/data" "$W/nginx/root"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
# Reads "from disk" start from a cold page cache when we may drop it (root).
CACHE=warm
dropcache() { sync; if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then CACHE=cold; fi; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== building bucketfs"
go build -o "$W/bucketfs" ./cmd/bucketfs

BP=$(port)
"$W/bucketfs" --data "$W/data" serve --listen 127.0.0.1:$BP --no-housekeeping >"$W/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$W/data/admin.token" ] && curl -s -o /dev/null "http://127.0.0.1:$BP/api/files" && break; sleep 0.1; done
TOKEN=$(cat "$W/data/admin.token")
AUTH="Authorization: Bearer $TOKEN"
BUCKET=$(curl -sf -X POST -H "$AUTH" "http://127.0.0.1:$BP/api/files" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
BURL="http://127.0.0.1:$BP/api/files/$BUCKET"

declare -a DD PUT CAT GET
dd_m=0 put_m=0 cat_m=0 get_m=0
if [ "$SIZE_MB" -gt 0 ]; then
  echo "== ${SIZE_MB} MiB file"
  dd if=/dev/urandom of="$W/big" bs=1M count="$SIZE_MB" status=none

  rate() { awk -v mb="$SIZE_MB" -v s="$1" 'BEGIN {printf "%.0f", mb/s}'; }
  for i in $(seq "$RUNS"); do
    t0=$(now); dd if=/dev/zero of="$W/ddout" bs=1M count="$SIZE_MB" conv=fdatasync status=none; t1=$(now)
    DD+=($(rate "$(echo "$t1 - $t0" | bc -l)")); rm -f "$W/ddout"
    # Fresh content each run (so dedup does not skip the write): flip the first byte.
    printf "\\x$(printf %02x $i)" | dd of="$W/big" bs=1 count=1 conv=notrunc status=none
    t0=$(now); curl -sS -f -o /dev/null -T "$W/big" -H "$AUTH" "$BURL/big.bin"; t1=$(now)
    PUT+=($(rate "$(echo "$t1 - $t0" | bc -l)"))
    dropcache
    t0=$(now); cat "$W/big" >/dev/null; t1=$(now)
    CAT+=($(rate "$(echo "$t1 - $t0" | bc -l)"))
    dropcache
    t0=$(now); curl -sS -f -o /dev/null -H "$AUTH" "$BURL/big.bin"; t1=$(now)
    GET+=($(rate "$(echo "$t1 - $t0" | bc -l)"))
  done
  dd_m=$(printf '%s\n' "${DD[@]}" | median); put_m=$(printf '%s\n' "${PUT[@]}" | median)
  cat_m=$(printf '%s\n' "${CAT[@]}" | median); get_m=$(printf '%s\n' "${GET[@]}" | median)
  rm -f "$W/big"
fi

echo "== nginx (WebDAV PUT, static GET)"
NP=$(port)
mkdir -p "$W/nginx/root/b" "$W/nginx/tmp" "$W/nginx/logs"
head -c 4096 /dev/urandom >"$W/small"
cp "$W/small" "$W/nginx/root/b/small"
cat >"$W/nginx/nginx.conf" <<NGX
user root;
worker_processes auto;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $W/nginx/tmp;
  server {
    listen 127.0.0.1:$NP;
    root $W/nginx/root;
    location / { dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
  }
}
NGX
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NP/b/small" && break; sleep 0.1; done

curl -sf -o /dev/null -T "$W/small" -H "$AUTH" "$BURL/small"
cat >"$W/put.lua" <<'LUA'
local n, id = 0, 0
setup = function(thread) id = id + 1; thread:set("id", id) end
init = function() wrk.method = "PUT"; wrk.body = string.rep("x", 4096)
  wrk.headers["Content-Type"] = "application/octet-stream"
  local tok = os.getenv("BENCH_TOKEN"); if tok and tok ~= "" then wrk.headers["Authorization"] = "Bearer " .. tok end end
request = function() n = n + 1; return wrk.format(nil, os.getenv("BENCH_PATH") .. "/k" .. id .. "-" .. n) end
done = function(summary, latency, requests) end
LUA
cat >"$W/get.lua" <<'LUA'
init = function() local tok = os.getenv("BENCH_TOKEN"); if tok and tok ~= "" then wrk.headers["Authorization"] = "Bearer " .. tok end end
LUA
wrkrps() { # url script token path
  local out; out=$(BENCH_TOKEN="$3" BENCH_PATH="$4" wrk -t2 -c"$CONNS" -d"$DURATION" -s "$2" "$1")
  if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; fi
  echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}
declare -a BPUT NPUT BGET NGET
# GETs first: after tens of thousands of PUTs badger flushes and compacts
# for a while, and that background work would be measured as GET cost.
for i in $(seq "$RUNS"); do
  BGET+=($(wrkrps "$BURL/small" "$W/get.lua" "$TOKEN" ""))
  NGET+=($(wrkrps "http://127.0.0.1:$NP/b/small" "$W/get.lua" "" ""))
done
for i in $(seq "$RUNS"); do
  BPUT+=($(wrkrps "$BURL" "$W/put.lua" "$TOKEN" "/api/files/$BUCKET"))
  NPUT+=($(wrkrps "http://127.0.0.1:$NP" "$W/put.lua" "" "/b"))
done
bput=$(printf '%s\n' "${BPUT[@]}" | median); nput=$(printf '%s\n' "${NPUT[@]}" | median)
bget=$(printf '%s\n' "${BGET[@]}" | median); nget=$(printf '%s\n' "${NGET[@]}" | median)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f%%", 100*a/b; else printf "-"}'; }
echo
echo "== results (median of $RUNS; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); $CACHE page cache for GET/cat)"
echo "   all runs: PUT ${PUT[*]:-} dd ${DD[*]:-} GET ${GET[*]:-} cat ${CAT[*]:-}"
echo "   all runs (req/s): bucketfs PUT ${BPUT[*]} nginx PUT ${NPUT[*]} bucketfs GET ${BGET[*]} nginx GET ${NGET[*]}"
printf '%-34s %12s %14s %8s\n' "measure" "bucketfs" "peer" "ratio"
printf '%-34s %9s MB/s %9s MB/s %8s\n' "${SIZE_MB} MiB PUT vs dd fdatasync" "$put_m" "$dd_m" "$(ratio "$put_m" "$dd_m")"
printf '%-34s %9s MB/s %9s MB/s %8s\n' "${SIZE_MB} MiB GET vs cat" "$get_m" "$cat_m" "$(ratio "$get_m" "$cat_m")"
printf '%-34s %8s req/s %8s req/s %8s\n' "4 KiB PUT, $CONNS conns vs nginx DAV" "$bput" "$nput" "$(ratio "$bput" "$nput")"
printf '%-34s %8s req/s %8s req/s %8s\n' "4 KiB GET, $CONNS conns vs nginx" "$bget" "$nget" "$(ratio "$bget" "$nget")"
