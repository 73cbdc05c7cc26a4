#!/usr/bin/env bash
# bench/sync_live.sh — the sync daemon in watch mode against `bucketfs serve`
# on loopback: the targets of the design note that have no peer (rclone has
# no watch mode), so they are printed beside their goal instead of a ratio.
#
#   P6  edit -> new remote version latency, p50 and p99 over $EDITS edits
#       (goal: p50 <= delay + 0.5 s, p99 <= delay + 2 s; delay = --delay,
#       and --min-age is set equal to it)
#   P7  idle with N files watched: daemon CPU over $IDLE seconds (goal <= 1 %)
#       and RSS at $FEW vs $MANY files (goal: memory independent of the count)
#
# Usage: bench/sync_live.sh   (env: FEW=10000 MANY=100000 EDITS=30 IDLE=30 DELAY=2s)
set -euo pipefail
FEW=${FEW:-10000}
MANY=${MANY:-100000}
EDITS=${EDITS:-30}
IDLE=${IDLE:-30}
DELAY=${DELAY:-2s}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/synclive.XXXXXX)
PIDS=()
cleanup() {
	local p i
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	# Each process gets 5 s to stop cleanly, then SIGKILL: nothing may outlive
	# the run (a leftover would hold the caller's flock on a bench lock).
	for p in "${PIDS[@]}"; do
		for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

echo "# building" >&2
(cd "$ROOT" && go build -o "$W/bucketfs" ./cmd/bucketfs)
BFS=$W/bucketfs
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$BFS" --data "$W/data" serve --listen 127.0.0.1:$PORT --no-housekeeping >"$W/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT/api
TOK=$(cat "$W/data/admin.token")
echo "sync live bench on $(uname -sr), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"

gen() { # DIR N: N files of 1 KiB in 1000 folders (fewer for small N)
	python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(root)
data = os.urandom(1016)
dirs = max(1, min(1000, n // 100))
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % dirs))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%06d" % i), "wb") as f:
        f.write(data + i.to_bytes(8, "little"))
PY
}

# start_daemon DIR BUCKET: runs the watch-mode daemon in the background (its
# pid in DAEMON and PIDS) and waits until its initial pass has uploaded every
# file (the bucket's key count).
start_daemon() {
	local dir=$1 b=$2 n
	n=$(find "$dir" -type f | wc -l)
	"$BFS" --log-level error sync "$dir" --remote "$URL" --token "$TOK" --bucket "$b" \
		--state "$W/state-$b" --delay "$DELAY" --min-age "$DELAY" >"$W/daemon-$b.log" 2>&1 &
	DAEMON=$!
	PIDS+=("$DAEMON")
	python3 - "$URL" "$TOK" "$b" "$n" <<'PY' >&2
import json, sys, time, urllib.parse, urllib.request
url, tok, b, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def count():
    total, after = 0, ""
    while True:
        q = f"{url}/files/{b}?limit=1000" + (f"&after={urllib.parse.quote(after)}" if after else "")
        req = urllib.request.Request(q, headers={"Authorization": "Bearer " + tok})
        try:
            j = json.load(urllib.request.urlopen(req))
        except Exception:
            return 0  # the bucket does not exist yet
        total += len(j.get("contents", []))
        after = j.get("next", "")
        if not after:
            return total
t = time.time()
while count() < n:
    if time.time() - t > 1800:
        sys.exit("initial sync did not finish")
    time.sleep(1)
print(f"# {b}: {n} files synced in {time.time()-t:.1f} s")
PY
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status"; }

idle() { # PID -> "cpu% rssMB" over IDLE seconds
	local t0 t1
	sleep 3 # let the initial pass's tail settle
	t0=$(cpu_ticks "$1")
	sleep "$IDLE"
	t1=$(cpu_ticks "$1")
	python3 -c "print(f'{100*($t1-$t0)/$(getconf CLK_TCK)/$IDLE:.2f}')"
}

# --- P7 at FEW and MANY files --------------------------------------------------
gen "$W/few" "$FEW"
gen "$W/many" "$MANY"
start_daemon "$W/few" few; pid_few=$DAEMON
cpu_few=$(idle "$pid_few"); rss_few=$(rss_mb "$pid_few")
start_daemon "$W/many" many; pid_many=$DAEMON
cpu_many=$(idle "$pid_many"); rss_many=$(rss_mb "$pid_many")
kill "$pid_many"

# --- P6 on the FEW tree ---------------------------------------------------------
lat=$(python3 - "$URL" "$TOK" "$W/few/d000/f000000" "$EDITS" <<'PY'
import os, sys, time, urllib.request
url, tok, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
key = "d000/f000000"
def head():
    req = urllib.request.Request(f"{url}/files/few/{key}", headers={"Authorization": "Bearer " + tok})
    return urllib.request.urlopen(req).read()
out = []
for i in range(n):
    body = f"edit {i} {time.time()}\n".encode() * 32
    with open(path, "wb") as f:
        f.write(body)
    t = time.time()
    while head() != body:
        if time.time() - t > 120:
            sys.exit("edit never reached the server")
        time.sleep(0.01)
    out.append(time.time() - t)
out.sort()
p50 = out[len(out) // 2]
p99 = out[min(len(out) - 1, int(len(out) * 0.99))]
print(f"{p50:.2f} {p99:.2f}")
PY
)
read -r p50 p99 <<<"$lat"
d=$(python3 -c "import re;s='$DELAY';print(float(re.sub('s$','',s)) if not s.endswith('ms') else float(s[:-2])/1000)")

echo
printf '%-46s %12s %12s  %s\n' measurement bucketfs goal note
printf '%-46s %12s %12s  %s\n' "P6 edit -> remote version, p50 (s)" "$p50" "<= $(python3 -c "print($d+0.5)")" "delay=$DELAY, $EDITS edits"
printf '%-46s %12s %12s  %s\n' "P6 edit -> remote version, p99 (s)" "$p99" "<= $(python3 -c "print($d+2)")" ""
printf '%-46s %12s %12s  %s\n' "P7 idle CPU with $FEW files watched (%)" "$cpu_few" "<= 1" "over ${IDLE}s"
printf '%-46s %12s %12s  %s\n' "P7 idle CPU with $MANY files watched (%)" "$cpu_many" "<= 1" "over ${IDLE}s"
printf '%-46s %12s %12s  %s\n' "P7 RSS at $FEW / $MANY files (MB)" "$rss_few/$rss_many" "flat" "ratio $(python3 -c "print(f'{$rss_many/$rss_few:.2f}')")"
