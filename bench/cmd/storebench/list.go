package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// benchList: the time to list one folder of 1,000 keys must not grow with
// the bucket's total key count. Each size gets its own store, so the bigger
// LSM tree is part of what is measured.
func benchList(ctx context.Context, c config) []row {
	small := listTimes(ctx, c, c.listSmall)
	large := listTimes(ctx, c, c.listLarge)
	name := fmt.Sprintf("list 1000 keys: %s vs %s keys", count(c.listLarge), count(c.listSmall))
	r := ratioRow(name, "ms", large, small, "same at "+count(c.listSmall)+" keys", 2.0, false)
	return []row{r}
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// listTimes returns, per run, the median milliseconds of listing the target
// folder (1,000 keys, with a delimiter) in a bucket of total keys.
func listTimes(ctx context.Context, c config, total int) []float64 {
	dir := filepath.Join(c.dir, fmt.Sprintf("list-%d", total))
	marker := filepath.Join(dir, "populated")
	if _, err := os.Stat(marker); err != nil {
		must(os.RemoveAll(dir))
		populate(ctx, dir, total)
		must(os.WriteFile(marker, nil, 0o644))
	}
	if !c.keep {
		defer os.RemoveAll(dir)
	}
	st := mustStore(openStore(filepath.Join(dir, "store")))
	defer st.Close()
	folders := total / 1000
	target := fmt.Sprintf("d%05d/", folders/2)
	var out []float64
	for run := range c.runs {
		var ts []float64
		for i := range c.listReps + 3 {
			t0 := time.Now()
			r, err := st.List(ctx, "list", storage.ListOptions{Prefix: target, Delimiter: "/", Limit: 1000})
			el := time.Since(t0)
			must(err)
			if len(r.Objects) != 1000 {
				must(fmt.Errorf("listing %s returned %d keys", target, len(r.Objects)))
			}
			if i >= 3 { // warm-up listings are not counted
				ts = append(ts, float64(el.Microseconds())/1000)
			}
		}
		out = append(out, median(ts))
		fmt.Fprintf(os.Stderr, "list run %d, %d keys: %.2f ms\n", run, total, out[run])
	}
	return out
}

// populate fills bucket "list" with total keys in folders of 1,000
// ("d00042/k0123"). The bytes are one tiny object copied (metadata only),
// which is what makes a million keys affordable.
func populate(ctx context.Context, dir string, total int) {
	must(os.MkdirAll(dir, 0o755))
	st := mustStore(openStore(filepath.Join(dir, "store")))
	defer st.Close()
	b, err := st.CreateBucket(ctx, storage.BucketOptions{Name: "list"})
	must(err)
	_, err = st.Put(ctx, b.ID, "seed", strings.NewReader("x"), storage.PutOptions{Size: 1})
	must(err)
	t0 := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				key := fmt.Sprintf("d%05d/k%04d", i/1000, i%1000)
				if _, err := st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "seed"}, b.ID, key, storage.PutOptions{Size: -1}); err != nil {
					mu.Lock()
					firstErr = errors.Join(firstErr, err)
					mu.Unlock()
					return
				}
				if n := done.Add(1); n%100_000 == 0 {
					fmt.Fprintf(os.Stderr, "populate %d: %d keys, %.0f/s\n", total, n, float64(n)/time.Since(t0).Seconds())
				}
			}
		})
	}
	wg.Wait()
	must(firstErr)
	_, err = st.Delete(ctx, b.ID, "seed", storage.DeleteOptions{})
	must(err)
	fmt.Fprintf(os.Stderr, "populated %d keys in %v\n", total, time.Since(t0).Round(time.Second))
}
