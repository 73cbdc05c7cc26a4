#!/usr/bin/env bash
# bench/remote_mount.sh — sequential read of a 1 GiB file through
# `bucketfs mount --remote` (block cache), side by side in one run with
#   * the same mount without the block cache (--cache-size 0: one ranged
#     HTTP stream kept open while reads are sequential, the previous path), and
#   * `rclone mount2 --vfs-cache-mode full` of an HTTP view (nginx autoindex)
#     of the same file: rclone's full-cache mount of an HTTP server.
# Cold = fresh mount, empty block/VFS cache, page cache dropped when root.
# Warm = fresh mount again (the kernel's pages of the old mount are gone),
# the block/VFS cache kept. Prints medians of RUNS and ratios bucketfs/peer.
#
# usage: bench/remote_mount.sh [WORKDIR]   (env: RUNS=3 SIZE_MB=1024 CACHE_SIZE=2G)
# CACHE_SIZE must exceed the file (an LRU smaller than a sequential scan
# keeps nothing). Needs rclone, nginx-light, fuse3, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-1024}
CACHE_SIZE=${CACHE_SIZE:-2G}
W=${1:-$(mktemp -d /var/tmp/bfs-rmount.XXXXXX)}
mkdir -p "$W"
PIDS=()
MNTS=("$W/m/bfs" "$W/m/stream" "$W/m/rclone")
umnt() { fusermount3 -u "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true; }
cleanup() {
	for m in "${MNTS[@]}"; do umnt "$m"; done
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

CACHE=warm
drop() { sync; if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then CACHE=cold; fi; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# readrate FILE -> MiB/s of one sequential read with 1 MiB reads
readrate() {
	python3 - "$1" "$SIZE_MB" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY); t = time.perf_counter(); n = 0
while True:
    b = os.read(fd, 1 << 20)
    if not b: break
    n += len(b)
dt = time.perf_counter() - t
assert n == int(sys.argv[2]) << 20, n
print("%.0f" % (n / dt / 2**20))
PY
}
waitmnt() { for _ in $(seq 100); do grep -q " $1 " /proc/mounts && return 0; sleep 0.1; done; echo "mount $1 failed" >&2; return 1; }

echo "== building bucketfs"
go build -o "$W/bucketfs" ./cmd/bucketfs
B="$W/bucketfs"
mkdir -p "$W/m/bfs" "$W/m/stream" "$W/m/rclone" "$W/nginx/root" "$W/nginx/tmp" "$W/nginx/logs"

echo "== ${SIZE_MB} MiB file on the server and in nginx's root"
dd if=/dev/urandom of="$W/nginx/root/big.bin" bs=1M count="$SIZE_MB" status=none
"$B" --data "$W/srv" bucket create bench >/dev/null
"$B" --data "$W/srv" put bench/big.bin "$W/nginx/root/big.bin" >/dev/null
BP=$(port)
"$B" --data "$W/srv" serve --listen 127.0.0.1:$BP --no-housekeeping >"$W/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$BP/api/files" && break; sleep 0.1; done
TOKEN=$(cat "$W/srv/admin.token")
URL="http://127.0.0.1:$BP/api"

NP=$(port)
cat >"$W/nginx/nginx.conf" <<NGX
worker_processes 2;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $W/nginx/tmp;
  server { listen 127.0.0.1:$NP; root $W/nginx/root; location / { autoindex on; } }
}
NGX
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -g 'daemon off;' &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$NP/" && break; sleep 0.1; done

# mount_<target> DIR: mount with a fresh or kept cache; file path on stdout.
mount_bfs() { # $1 = cache size
	"$B" --data "$W/client-$1" --remote "$URL" --token "$TOKEN" mount --daemon --log-file "$W/mount-$1.log" \
		--cache-dir "$W/cache-$1" --cache-size "$1" "$2" >/dev/null 2>&1
	waitmnt "$2"
}
mount_rclone() {
	rclone mount2 :http: "$1" --http-url "http://127.0.0.1:$NP/" --vfs-cache-mode full \
		--vfs-cache-max-size "$CACHE_SIZE" --cache-dir "$W/rccache" --read-only --daemon 2>/dev/null ||
		rclone mount :http: "$1" --http-url "http://127.0.0.1:$NP/" --vfs-cache-mode full \
			--vfs-cache-max-size "$CACHE_SIZE" --cache-dir "$W/rccache" --read-only --daemon
	waitmnt "$1"
}

declare -A R
for run in $(seq "$RUNS"); do
	for t in bfs stream rclone; do
		m="$W/m/$t"
		case $t in
		bfs) rm -rf "$W/cache-$CACHE_SIZE" ;;
		stream) ;;
		rclone) rm -rf "$W/rccache" ;;
		esac
		for phase in cold warm; do
			case $t in
			bfs) mount_bfs "$CACHE_SIZE" "$m"; f="$m/bench/big.bin" ;;
			stream) mount_bfs 0 "$m"; f="$m/bench/big.bin" ;;
			rclone) mount_rclone "$m"; f="$m/big.bin" ;;
			esac
			drop
			R[$t.$phase]+="$(readrate "$f") "
			umnt "$m"
			sleep 0.5
		done
	done
done

med() { echo "${R[$1]}" | tr ' ' '\n' | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
echo
echo "remote mount, sequential read of ${SIZE_MB} MiB (1 MiB reads), medians of $RUNS runs, MiB/s; page cache: $CACHE; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %12s %12s %12s %10s %10s\n' phase "bucketfs" "stream(-)" "rclone-full" "vs stream" "vs rclone"
for phase in cold warm; do
	a=$(med bfs.$phase) s=$(med stream.$phase) r=$(med rclone.$phase)
	printf '%-8s %12s %12s %12s %10s %10s\n' "$phase" "$a" "$s" "$r" "$(ratio "$a" "$s")" "$(ratio "$a" "$r")"
done
echo "(bucketfs: --cache-size $CACHE_SIZE, 1 MiB blocks, 8 blocks read-ahead; stream: --cache-size 0; rclone: --vfs-cache-mode full of nginx autoindex)"
