#!/bin/sh
# Functions runtime benchmark (issue 6), side by side in one run:
#   - an empty Python call vs a bare `python3` start of the same handler
#     (target: <= 1.5x), an empty shell handler vs `sh`, medians and ratios;
#   - trigger-to-start latency (committed Put -> process started);
#   - 1,000 small files copied into a mount of the embedded default: every
#     event delivered, none twice.
# usage: bench/functions.sh [-n RUNS] [-files N]
set -eu
cd "$(dirname "$0")/.."
runs=30
files=1000
while [ $# -gt 0 ]; do
	case "$1" in
	-n) runs=$2; shift 2 ;;
	-files) files=$2; shift 2 ;;
	*) echo "usage: $0 [-n RUNS] [-files N]" >&2; exit 2 ;;
	esac
done
work=$(mktemp -d "${TMPDIR:-/var/tmp}/fnbench.XXXXXX")
mnt="$work/mnt"
mountpid=""
cleanup() {
	if [ -n "$mountpid" ]; then
		kill -INT "$mountpid" 2>/dev/null || true
		wait "$mountpid" 2>/dev/null || true
	fi
	fusermount3 -u -z "$mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/bucketfs" ./cmd/bucketfs
go build -o "$work/fnbench" ./bench/cmd/fnbench
echo "functions bench on $(uname -sr), $(nproc) CPUs, $(python3 --version), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"
"$work/fnbench" -n "$runs" -dir "$work/calls"

# ---- N small files copied into a mount ----
data="$work/data"
B="$work/bucketfs --data $data"
$B bucket create drop >/dev/null
cat > "$work/rec.sh" <<EOS
#!/bin/sh
req=\$(cat)
printf '%s\n' "\$req" | sed -n 's/.*"key_raw":"\([^"]*\)".*/\1/p' >> "$work/delivered"
printf '{"status":"ok"}' >&3
EOS
chmod +x "$work/rec.sh"
$B fn create rec --file "$work/rec.sh" >/dev/null
$B fn trigger create rec --bucket drop >/dev/null
mkdir -p "$mnt" "$work/src"
python3 - "$work/src" "$files" <<'EOS'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%05d.txt" % i), "wb") as f:
        f.write(b"small file %d\n" % i)
EOS
$B mount "$mnt" >"$work/mount.log" 2>&1 &
mountpid=$!
i=0
until [ -d "$mnt/drop" ]; do
	i=$((i + 1)); [ $i -lt 600 ] || { echo "mount did not come up"; cat "$work/mount.log"; exit 1; }
	sleep 0.05
done
: > "$work/delivered"
t0=$(date +%s.%N)
cp -r "$work/src" "$mnt/drop/in"
t1=$(date +%s.%N)
i=0
until [ "$(wc -l < "$work/delivered")" -ge "$files" ]; do
	i=$((i + 1)); [ $i -lt 6000 ] || { echo "only $(wc -l < "$work/delivered") of $files delivered"; break; }
	sleep 0.05
done
t2=$(date +%s.%N)
sleep 2
total=$(wc -l < "$work/delivered")
unique=$(sort -u "$work/delivered" | wc -l)
kill -INT "$mountpid"; wait "$mountpid" || true; mountpid=""
succeeded=$($B fn deliveries --state succeeded --json | grep -c '"state": "succeeded"' || true)
dead=$($B fn deliveries --state dead --json | grep -c '"state": "dead"' || true)
awk -v n="$files" -v a="$t0" -v b="$t1" -v c="$t2" -v tot="$total" -v uq="$unique" -v s="$succeeded" -v d="$dead" 'BEGIN {
	printf "%-28s %10.2fs %10.0f files/s\n", "cp -r into the mount", b - a, n / (b - a)
	printf "%-28s %10.2fs %10.0f events/s\n", "all events delivered after", c - a, n / (c - a)
	printf "%-28s %10.2fs\n", "  delivery lag after cp", c - b
	printf "%-28s %d of %d (unique %d), succeeded deliveries %d, dead %d\n", "calls", tot, n, uq, s, d
	if (tot != n || uq != n || s != n || d != 0) { print "FAIL: not every event delivered exactly once"; exit 1 }
	print "OK: every event delivered exactly once"
}'
