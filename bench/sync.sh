#!/usr/bin/env bash
# bench/sync.sh — bucketfs sync vs rclone 1.60 side by side, both pushing the
# same trees over loopback: bucketfs to `bucketfs serve` (HTTP), rclone to
# `rclone serve sftp` (its WebDAV pair measured ~20 files/s here, unusable),
# each behind the same TCP counting proxy (bench/cmd/countproxy), so bytes
# sent are counted identically on the wire (payload + protocol overhead).
#
# Scenarios (medians of $REPEAT runs, warm page cache):
#   1. initial sync of $SMALL small files (4 KiB, 100 dirs)     files/s
#   2. one $BIG_MIB MiB file                                     MiB/s
#   3. no-op rescan of $NOOP files (after an initial sync)       seconds
#   4. rename of the big file                                    bytes sent, seconds
#      (rclone: sync --track-renames, hash strategy, hashes via the sftp server)
#   5. kill -9 at 50 % of the big upload, then rerun             bytes re-sent
#
# Usage: bench/sync.sh            (env: REPEAT=3 SMALL=10000 NOOP=100000 BIG_MIB=1024 KEEP=0
#                                        ONLY="small big noop rename kill": the scenarios to run)
set -euo pipefail
REPEAT=${REPEAT:-3}
SMALL=${SMALL:-10000}
NOOP=${NOOP:-100000}
BIG_MIB=${BIG_MIB:-1024}
ONLY=${ONLY:-small big noop rename kill}
want() { [[ " $ONLY " == *" $1 "* ]]; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/syncbench.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT

command -v rclone >/dev/null || { echo "rclone not installed (apt-get install -y rclone)" >&2; exit 1; }
echo "# building" >&2
(cd "$ROOT" && go build -o "$W/bucketfs" ./cmd/bucketfs && go build -o "$W/countproxy" ./bench/cmd/countproxy)
BFS=$W/bucketfs

freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now)-$1:.3f}')"; }
median() { python3 -c 'import sys,statistics;v=[float(x) for x in sys.argv[1:]];print(f"{statistics.median(v):.3f}")' "$@"; }
ratio() { python3 -c "a,b=float('$1'),float('$2');print(f'{a/b:.2f}x' if b else 'inf')"; }
waitport() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not up" >&2; exit 1; }
count() { curl -s "http://127.0.0.1:$1/count" | python3 -c 'import sys,json;print(json.load(sys.stdin)["sent"])'; }

# --- servers ---------------------------------------------------------------
P_BFS=$(freeport); P_BFSX=$(freeport); P_RC=$(freeport); P_RCX=$(freeport); C_BFS=$(freeport); C_RC=$(freeport)
"$BFS" --data "$W/bfsdata" serve --listen 127.0.0.1:$P_BFS --no-housekeeping >"$W/bfs-serve.log" 2>&1 & PIDS+=($!); SRV_BFS=$!
mkdir -p "$W/rcdst"
rclone serve sftp "$W/rcdst" --addr 127.0.0.1:$P_RC --no-auth >"$W/rc-serve.log" 2>&1 & PIDS+=($!); SRV_RC=$!
waitport $P_BFS; waitport $P_RC
"$W/countproxy" -listen 127.0.0.1:$P_BFSX -target 127.0.0.1:$P_BFS -control 127.0.0.1:$C_BFS & PIDS+=($!)
"$W/countproxy" -listen 127.0.0.1:$P_RCX -target 127.0.0.1:$P_RC -control 127.0.0.1:$C_RC & PIDS+=($!)
waitport $P_BFSX; waitport $P_RCX; waitport $C_BFS; waitport $C_RC
TOK=$(cat "$W/bfsdata/admin.token")
export RCLONE_CONFIG=/dev/null RCLONE_SFTP_HOST=127.0.0.1 RCLONE_SFTP_PORT=$P_RCX RCLONE_SFTP_USER=bench
export RCLONE_SFTP_PASS=$(rclone obscure bench)

bfs_sync() { # SRC BUCKET STATE [extra flags...]
	local src=$1 b=$2 st=$3; shift 3
	/usr/bin/time -f "%M %U %S" -o "$W/last-bfs.rss" "$BFS" --log-level error sync "$src" --remote http://127.0.0.1:$P_BFSX/api --token "$TOK" --bucket "$b" --state "$st" \
		--once --min-age 0 "$@" >"$W/last-bfs.out" 2>&1
}
# *_exec variants replace the calling subshell, so $! is the tool itself.
bfs_sync_exec() {
	local src=$1 b=$2 st=$3; shift 3
	exec "$BFS" --log-level error sync "$src" --remote http://127.0.0.1:$P_BFSX/api --token "$TOK" --bucket "$b" --state "$st" \
		--once --min-age 0 "$@" >"$W/last-bfs.out" 2>&1
}
rc_copy_exec() { exec rclone copy "$1" ":sftp:$2" --transfers 16 --checkers 16 -q "${@:3}"; }
rc_copy() { /usr/bin/time -f "%M %U %S" -o "$W/last-rc.rss" rclone copy "$1" ":sftp:$2" --transfers 16 --checkers 16 -q "${@:3}"; }
# CPU seconds (user+sys) of a server process so far, and of the last client run.
srvcpu() { python3 -c "import os;f=open('/proc/$1/stat').read().rsplit(')',1)[1].split();print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"; }
clicpu() { awk '{print $2+$3}' "$1"; }
rc_sync() { rclone sync "$1" ":sftp:$2" --transfers 16 --checkers 16 -q "${@:3}"; }

# --- data --------------------------------------------------------------------
echo "# generating data in $W" >&2
want small || SMALL=0
want noop || NOOP=0
python3 - "$W/small" "$SMALL" "$W/many" "$NOOP" <<'PY'
import os, sys
def gen(root, n, size):
    os.makedirs(root)
    data = os.urandom(size)
    for i in range(n):
        d = os.path.join(root, "d%03d" % (i % 100 if n <= 20000 else i % 1000))
        if not os.path.isdir(d): os.mkdir(d)
        with open(os.path.join(d, "f%06d" % i), "wb") as f:
            f.write(data[: size - 8] + i.to_bytes(8, "little"))
gen(sys.argv[1], int(sys.argv[2]), 4096)
gen(sys.argv[3], int(sys.argv[4]), 1024)
PY
mkdir -p "$W/big"
head -c $((BIG_MIB << 20)) /dev/urandom >"$W/big/big.bin"
BIG=$((BIG_MIB << 20))

declare -A R
row() { [ "$2" = - ] || printf '%-44s %14s %14s %10s\n' "$1" "$2" "$3" "$4"; }
ratio() { [ "$1" = - ] && { echo -; return; }; python3 -c "a,b=float('$1'),float('$2');print(f'{a/b:.2f}x' if b else 'inf')"; }

# --- 1. small files ------------------------------------------------------------
if want small; then
b=(); r=()
for i in $(seq "$REPEAT"); do
	t=$(now); bfs_sync "$W/small" "small$i" "$W/st-small$i"; b+=("$(python3 -c "print($SMALL/$(elapsed "$t"))")")
	t=$(now); rc_copy "$W/small" "small$i"; r+=("$(python3 -c "print($SMALL/$(elapsed "$t"))")")
done
R[small_b]=$(median "${b[@]}"); R[small_r]=$(median "${r[@]}")
echo "# small: bucketfs ${b[*]} rclone ${r[*]} files/s" >&2
fi

# --- 2. one big file -------------------------------------------------------------
if want big; then
b=(); r=()
bc=(); rcc=() # CPU seconds per GiB, client + server: a figure the load of a shared machine does not bend
for i in $(seq "$REPEAT"); do
	s0=$(srvcpu $SRV_BFS); t=$(now); bfs_sync "$W/big" "big$i" "$W/st-big$i"; b+=("$(python3 -c "print($BIG_MIB/$(elapsed "$t"))")")
	bc+=("$(python3 -c "print(($(srvcpu $SRV_BFS)-$s0+$(clicpu "$W/last-bfs.rss"))*1024/$BIG_MIB)")")
	s0=$(srvcpu $SRV_RC); t=$(now); rc_copy "$W/big" "big$i"; r+=("$(python3 -c "print($BIG_MIB/$(elapsed "$t"))")")
	rcc+=("$(python3 -c "print(($(srvcpu $SRV_RC)-$s0+$(clicpu "$W/last-rc.rss"))*1024/$BIG_MIB)")")
done
R[big_b]=$(median "${b[@]}"); R[big_r]=$(median "${r[@]}")
R[bigcpu_b]=$(median "${bc[@]}"); R[bigcpu_r]=$(median "${rcc[@]}")
echo "# big: bucketfs ${b[*]} rclone ${r[*]} MiB/s; CPU s/GiB bucketfs ${bc[*]} rclone ${rcc[*]}" >&2
fi

# --- 3. no-op rescan ----------------------------------------------------------------
if want noop; then
t=$(now); bfs_sync "$W/many" many "$W/st-many" --concurrency 32; R[many_init_b]=$(elapsed "$t")
R[many_rss_b]=$(( $(cut -d' ' -f1 "$W/last-bfs.rss") / 1024 ))
# rclone's destination is seeded locally (its sftp initial sync of 100k
# files takes many minutes); the timed no-op runs go over sftp.
t=$(now); rclone copy "$W/many" "$W/rcdst/many" --transfers 16 -q --local-no-check-updated; R[many_init_r]=$(elapsed "$t")
b=(); r=()
for i in $(seq "$REPEAT"); do
	t=$(now); bfs_sync "$W/many" many "$W/st-many"; b+=("$(elapsed "$t")")
	t=$(now); rc_sync "$W/many" many; r+=("$(elapsed "$t")")
done
R[noop_b]=$(median "${b[@]}"); R[noop_r]=$(median "${r[@]}")
echo "# no-op: bucketfs ${b[*]} rclone ${r[*]} s (initial: ${R[many_init_b]} / ${R[many_init_r]} s)" >&2
fi

# --- 4. rename of the big file ----------------------------------------------------------
if want rename && want big; then
b=(); r=(); bb=(); rb=()
name=big.bin
for i in $(seq "$REPEAT"); do
	new=renamed$i.bin
	mv "$W/big/$name" "$W/big/$new"; name=$new
	c0=$(count $C_BFS); t=$(now); bfs_sync "$W/big" big1 "$W/st-big1"; b+=("$(elapsed "$t")"); bb+=($(( $(count $C_BFS) - c0 )))
	c0=$(count $C_RC); t=$(now); rc_sync "$W/big" big1 --track-renames; r+=("$(elapsed "$t")"); rb+=($(( $(count $C_RC) - c0 )))
done
R[ren_b]=$(median "${b[@]}"); R[ren_r]=$(median "${r[@]}")
R[renb_b]=$(median "${bb[@]}"); R[renb_r]=$(median "${rb[@]}")
echo "# rename: bucketfs ${b[*]} s ${bb[*]} B; rclone ${r[*]} s ${rb[*]} B" >&2
fi

# --- 5. kill -9 at 50 % ------------------------------------------------------------------
killat() { # PORT CMD...: run CMD, kill -9 once the proxy saw half the file
	local port=$1; shift
	local c0; c0=$(count "$port")
	( "$@" ) & local pid=$!
	while kill -0 $pid 2>/dev/null; do
		if [ $(( $(count "$port") - c0 )) -ge $((BIG / 2)) ]; then kill -9 $pid; break; fi
		sleep 0.02
	done
	wait $pid 2>/dev/null || true
}
if want kill; then
c0=$(count $C_BFS)
killat $C_BFS bfs_sync_exec "$W/big" kill "$W/st-kill"
bfs_sync "$W/big" kill "$W/st-kill"
R[kill_b]=$(( $(count $C_BFS) - c0 - BIG ))
ORPH=$(curl -s -H "Authorization: Bearer $TOK" "http://127.0.0.1:$P_BFS/api/files/kill?uploads" | python3 -c 'import sys,json;d=json.load(sys.stdin);print(sum(1 for u in d if not u.get("completed")))' 2>/dev/null || echo "?")
c0=$(count $C_RC)
killat $C_RC rc_copy_exec "$W/big" kill
rc_copy "$W/big" kill
R[kill_r]=$(( $(count $C_RC) - c0 - BIG ))
echo "# kill: bucketfs re-sent ${R[kill_b]} B (orphan uploads: $ORPH), rclone re-sent ${R[kill_r]} B" >&2
fi

# --- report ---------------------------------------------------------------------------------
echo
echo "bucketfs sync vs rclone $(rclone version | head -1 | awk '{print $2}') (sftp), loopback, $(nproc) cores, medians of $REPEAT"
row "metric" "bucketfs" "rclone" "ratio"
row "initial sync $SMALL x 4 KiB (files/s, higher better)" "${R[small_b]:--}" "${R[small_r]:--}" "$(ratio "${R[small_b]:--}" "${R[small_r]:--}")"
row "one $BIG_MIB MiB file (MiB/s, higher better)" "${R[big_b]:--}" "${R[big_r]:--}" "$(ratio "${R[big_b]:--}" "${R[big_r]:--}")"
row "one $BIG_MIB MiB file: CPU s per GiB (client+server)" "${R[bigcpu_b]:--}" "${R[bigcpu_r]:--}" "$(ratio "${R[bigcpu_r]:--}" "${R[bigcpu_b]:--}")"
row "initial sync $NOOP x 1 KiB (s; rclone: local seed)" "${R[many_init_b]:--}" "${R[many_init_r]:--}" "-"
row "initial sync $NOOP files: bucketfs peak RSS (MB)" "${R[many_rss_b]:--}" "-" "-"
row "no-op rescan $NOOP files (s, lower better)" "${R[noop_b]:--}" "${R[noop_r]:--}" "$(ratio "${R[noop_r]:--}" "${R[noop_b]:--}")"
row "rename $BIG_MIB MiB file (s, lower better)" "${R[ren_b]:--}" "${R[ren_r]:--}" "$(ratio "${R[ren_r]:--}" "${R[ren_b]:--}")"
row "rename $BIG_MIB MiB file (wire bytes sent)" "${R[renb_b]:--}" "${R[renb_r]:--}" "-"
row "wire bytes re-sent after kill -9 at 50 %" "${R[kill_b]:--}" "${R[kill_r]:--}" "-"
echo "(ratios are bucketfs's advantage: >1 means bucketfs is better)"
