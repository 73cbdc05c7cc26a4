// Command storebench measures the local object store (storage.Store) side
// by side with the native tools it must keep up with, in one run, and prints
// medians and ratios:
//
//   - put of a large object vs `dd if=/dev/zero bs=1M conv=fsync`,
//   - get of it with cold caches vs `cat f >/dev/null`,
//   - 4 KiB durable puts from many goroutines vs write+fsync of the same
//     files at the same concurrency,
//   - listing one folder of 1,000 keys in a bucket of 10k keys vs 1M keys.
//
// Run it through bench/store.sh. Dropping the page cache needs root; without
// it the "cold" reads are marked warm.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

type config struct {
	dir         string
	runs        int
	bigSize     int64
	smallFiles  int
	concurrency int
	listSmall   int
	listLarge   int
	listReps    int
	only        string
	keep        bool
}

func main() {
	var c config
	flag.StringVar(&c.dir, "dir", "/var/tmp/storebench", "scratch directory (on the disk to measure)")
	flag.IntVar(&c.runs, "runs", 5, "runs per measurement (the median is reported)")
	flag.Int64Var(&c.bigSize, "big", 1<<30, "size of the large object in bytes (a multiple of 1 MiB)")
	flag.IntVar(&c.smallFiles, "small-files", 8000, "4 KiB files per run of the small-put test")
	flag.IntVar(&c.concurrency, "concurrency", 16, "writers in the small-put test")
	flag.IntVar(&c.listSmall, "list-small", 10_000, "keys in the small listing bucket")
	flag.IntVar(&c.listLarge, "list-large", 1_000_000, "keys in the large listing bucket")
	flag.IntVar(&c.listReps, "list-reps", 50, "listings per run")
	flag.StringVar(&c.only, "only", "", "comma-separated subset: big,small,list")
	flag.BoolVar(&c.keep, "keep", true, "keep the populated listing stores for the next run")
	flag.Parse()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var rows []row
	if c.want("big") {
		rows = append(rows, benchBig(ctx, c)...)
	}
	if c.want("small") {
		rows = append(rows, benchSmall(ctx, c)...)
	}
	if c.want("list") {
		rows = append(rows, benchList(ctx, c)...)
	}
	printRows(rows)
}

func (c config) want(name string) bool {
	return c.only == "" || slices.Contains(strings.Split(c.only, ","), name)
}

// row is one comparison: the store's median against the peer's median.
type row struct {
	name       string
	unit       string // what the numbers are
	store      float64
	peer       float64
	peerName   string
	ratio      float64
	target     string
	pass       bool
	storeRuns  []float64
	peerRuns   []float64
	higherGood bool
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// notes are context lines printed after the table.
var notes []string

func printRows(rows []row) {
	fmt.Printf("\n%-38s %14s %14s  %-22s %7s  %-8s %s\n", "measurement", "bucketfs", "peer", "peer is", "ratio", "target", "")
	for _, r := range rows {
		verdict := "ok"
		if !r.pass {
			verdict = "MISSED"
		}
		fmt.Printf("%-38s %14.1f %14.1f  %-22s %7.2f  %-8s %s\n", r.name+" ("+r.unit+")", r.store, r.peer, r.peerName, r.ratio, r.target, verdict)
	}
	fmt.Println("\nruns (store | peer):")
	for _, r := range rows {
		fmt.Printf("  %-36s %v | %v\n", r.name, fmtRuns(r.storeRuns), fmtRuns(r.peerRuns))
	}
	for _, n := range notes {
		fmt.Println("\n" + n)
	}
}

func fmtRuns(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.1f", x))
	}
	return strings.Join(s, " ")
}

func openStore(dir string) (*storage.Store, error) {
	o := storage.DefaultOptions()
	// Pending MD5s are computed where the benchmark asks (FileMD5), so the
	// background checksummer does not run into the next measurement.
	o.NoBackgroundMD5 = true
	return storage.Open(dir, o)
}

// dropCaches empties the page cache so reads come from the disk; false when
// not allowed (not root).
func dropCaches() bool {
	syncAll()
	err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
	return err == nil
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func mustStore(st *storage.Store, err error) *storage.Store {
	must(err)
	return st
}

func secs(d time.Duration) float64 { return d.Seconds() }
