#!/bin/sh
# Measures the local object store against native tools on the same disk, side
# by side in one run, and prints medians and ratios (see
# bench/cmd/storebench). Issue 2's targets:
#   put / get of 1 GiB      >= 0.85 x dd (conv=fsync) / cat with a cold cache
#   4 KiB durable puts x16  >= 1.00 x write+fsync per file, 16 writers
#   list a 1,000-key folder at 1M keys <= 2 x the time at 10k keys
#
# usage: bench/store.sh [-dir DIR] [-runs N] [-only big,small,list] [...]
# Run as root so the page cache can be dropped before reads. DIR (default
# /var/tmp/storebench) should be on the disk to measure; the populated
# listing stores are kept there for the next run (-keep=false removes them).
set -eu
cd "$(dirname "$0")/.."
bin="${TMPDIR:-/tmp}/storebench.$$"
trap 'rm -f "$bin"' EXIT
go build -o "$bin" ./bench/cmd/storebench
echo "storebench on $(uname -sr), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
"$bin" "$@"
