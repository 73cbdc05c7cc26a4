#!/usr/bin/env bash
# Measures `bucketfs mount` (embedded local store) against the native
# directory and `rclone mount2 --vfs-cache-mode writes` of a local directory
# (rclone's go-fuse mount: the cleanest client-overhead peer), side by side in
# one run on the same disk, and prints medians and ratios. Issue 4's goals:
#   seq write 1 GiB (fio, 1 MiB, end_fsync)        >= 0.90 x native
#   seq read 1 GiB cold / warm                     >= 1.2 x rclone
#   small files (10,000 x 4 KiB in 20 folders):
#     create, read, delete                         >= 3 x rclone;  stat >= 0.8 x native
#   ls -f / ls -l of a 100,000-entry directory    <= 2 x / <= 1.5 x native
#   mount daemon RSS after that listing            <= 150 MB
#
# usage: bench/mount.sh [RUNS]   (default 3; run as root so caches can be dropped)
# Needs: go, fio, rclone, fuse3, python3. WORK (default /var/tmp/bfsbench.$$)
# should be on the disk to measure; it is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
BFS_MOUNT_FLAGS=${BFS_MOUNT_FLAGS:-}  # e.g. --readdirplus
NSMALL=${NSMALL:-10000}
NLS=${NLS:-100000}
WORK=${WORK:-/var/tmp/bfsbench.$$}
SMALL=${SMALL:-$(dirname "$0")/smallfiles.py}
mkdir -p "$WORK"
BIN=$WORK/bucketfs
RES=$WORK/results.tsv
: >"$RES"

cleanup() {
	for m in "$WORK/bfs/mnt" "$WORK/rc/mnt"; do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	sleep 0.5
	rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$BIN" ./cmd/bucketfs
go build -o "$WORK/populate" ./bench/cmd/populate
echo "mount bench on $(uname -sr), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), runs=$RUNS"

drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
rec() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES"; } # target metric value
secs() { python3 -c 'import subprocess,sys,time; t=time.perf_counter(); subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,check=True); print("%.4f"%(time.perf_counter()-t))' "$@"; }
fiobw() { # dir rw -> MiB/s
	fio --name=b --filename="$1/fio.bin" --rw="$2" --bs=1M --size=1G --end_fsync=1 \
		--ioengine=psync --output-format=json 2>/dev/null |
		python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; k="write" if j["write"]["bw"]>0 else "read"; print("%.1f"%(j[k]["bw"]/1024))'
}
rss() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

# --- set up the three targets -------------------------------------------
NATIVE=$WORK/native
mkdir -p "$NATIVE/ls" "$WORK/rc/src/ls" "$WORK/rc/mnt" "$WORK/rc/cache" "$WORK/bfs/mnt"
python3 - "$NATIVE/ls" "$WORK/rc/src/ls" "$NLS" <<'PY'
import os, sys
for d in sys.argv[1:3]:
    for i in range(int(sys.argv[3])):
        open(os.path.join(d, "f%06d" % i), "w").close()
PY
"$WORK/populate" -data "$WORK/bfs/data" -bucket ls -prefix "" -n "$NLS"
"$WORK/populate" -data "$WORK/bfs/data" -bucket bench -n 0

BFSPID=$("$BIN" --data "$WORK/bfs/data" mount $BFS_MOUNT_FLAGS --daemon --log-file "$WORK/bfs.log" "$WORK/bfs/mnt" 2>&1 | sed -n 's/.*(pid \([0-9]*\),.*/\1/p')
[ -n "$BFSPID" ] || { echo "bucketfs mount failed" >&2; exit 1; }
rclone mount2 "$WORK/rc/src" "$WORK/rc/mnt" --vfs-cache-mode writes --cache-dir "$WORK/rc/cache" --daemon 2>/dev/null ||
	rclone mount "$WORK/rc/src" "$WORK/rc/mnt" --vfs-cache-mode writes --cache-dir "$WORK/rc/cache" --daemon
for i in $(seq 50); do grep -q " $WORK/rc/mnt " /proc/mounts && break; sleep 0.1; done
RCPID=$(pgrep -n -f "rclone mount.*$WORK/rc/src" || true)
declare -A DIR=([native]=$NATIVE [bucketfs]=$WORK/bfs/mnt/bench [rclone]=$WORK/rc/mnt)
declare -A LSDIR=([native]=$NATIVE/ls [bucketfs]=$WORK/bfs/mnt/ls [rclone]=$WORK/rc/mnt/ls)

# --- runs, one target at a time --------------------------------------------
for run in $(seq "$RUNS"); do
	for t in native bucketfs rclone; do
		d=${DIR[$t]}
		drop
		rec "$t" seqwrite "$(fiobw "$d" write)"
		drop
		rec "$t" seqread_cold "$(fiobw "$d" read)"
		rec "$t" seqread_warm "$(fiobw "$d" read)"
		rm -f "$d/fio.bin"
		drop
		python3 "$SMALL" "$d" "$NSMALL" 4096 | while read -r phase _ _ _ _ ops _; do
			rec "$t" "small_$phase" "$ops"
		done
		drop
		rec "$t" ls_f "$(secs ls -f "${LSDIR[$t]}")"
		drop
		rec "$t" ls_l "$(secs ls -l "${LSDIR[$t]}")"
		rec "$t" ls_l_warm "$(secs ls -l "${LSDIR[$t]}")"
		case $t in
		bucketfs) rec "$t" rss_mb "$(rss "$BFSPID")" ;;
		rclone) rec "$t" rss_mb "$(rss "$RCPID")" ;;
		esac
		echo "run $run $t done" >&2
	done
done

# --- medians and ratios ------------------------------------------------------
python3 - "$RES" <<'PY'
import sys, statistics as st, collections
v = collections.defaultdict(list)
for line in open(sys.argv[1]):
    t, m, x = line.split("\t"); v[(t, m)].append(float(x))
med = {k: st.median(x) for k, x in v.items()}
def g(t, m): return med.get((t, m), float("nan"))
rows = [("seqwrite", "MiB/s"), ("seqread_cold", "MiB/s"), ("seqread_warm", "MiB/s"),
        ("small_create", "ops/s"), ("small_list", "ops/s"), ("small_stat", "ops/s"),
        ("small_read", "ops/s"), ("small_delete", "ops/s"),
        ("ls_f", "s"), ("ls_l", "s"), ("ls_l_warm", "s"), ("rss_mb", "MB")]
print("%-14s %6s %11s %11s %11s %9s %9s" % ("metric", "unit", "native", "bucketfs", "rclone", "bfs/nat", "bfs/rcl"))
for m, u in rows:
    n, b, r = g("native", m), g("bucketfs", m), g("rclone", m)
    print("%-14s %6s %11.1f %11.1f %11.1f %9.2f %9.2f" % (m, u, n, b, r, b / n if n else float("nan"), b / r if r else float("nan")))
goals = [
    ("seq write >= 0.90 x native", g("bucketfs", "seqwrite") / g("native", "seqwrite"), ">=", 0.90),
    ("seq read cold >= 1.2 x rclone", g("bucketfs", "seqread_cold") / g("rclone", "seqread_cold"), ">=", 1.2),
    ("seq read warm >= 1.2 x rclone", g("bucketfs", "seqread_warm") / g("rclone", "seqread_warm"), ">=", 1.2),
    ("create >= 3 x rclone", g("bucketfs", "small_create") / g("rclone", "small_create"), ">=", 3),
    ("read >= 3 x rclone", g("bucketfs", "small_read") / g("rclone", "small_read"), ">=", 3),
    ("delete >= 3 x rclone", g("bucketfs", "small_delete") / g("rclone", "small_delete"), ">=", 3),
    ("stat >= 0.8 x native", g("bucketfs", "small_stat") / g("native", "small_stat"), ">=", 0.8),
    ("ls -f <= 2 x native", g("bucketfs", "ls_f") / g("native", "ls_f"), "<=", 2),
    ("ls -l <= 1.5 x native", g("bucketfs", "ls_l") / g("native", "ls_l"), "<=", 1.5),
    ("RSS after listing <= 150 MB", g("bucketfs", "rss_mb"), "<=", 150),
]
print()
for name, x, op, lim in goals:
    ok = x >= lim if op == ">=" else x <= lim
    print("%-32s %8.2f  %s" % (name, x, "met" if ok else "NOT met"))
PY
