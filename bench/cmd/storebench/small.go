package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// benchSmall: 4 KiB durable puts from c.concurrency goroutines vs the same
// files written natively (create, write, fsync, close) at that concurrency.
func benchSmall(ctx context.Context, c config) []row {
	dir := filepath.Join(c.dir, "small")
	must(os.RemoveAll(dir))
	must(os.MkdirAll(dir, 0o755))
	defer os.RemoveAll(dir)
	st := mustStore(openStore(filepath.Join(dir, "store")))
	defer st.Close()
	b, err := st.CreateBucket(ctx, storage.BucketOptions{})
	must(err)
	var storeRate, nativeRate []float64
	for run := range c.runs {
		nd := filepath.Join(dir, fmt.Sprintf("native-%d", run))
		for g := range c.concurrency {
			must(os.MkdirAll(filepath.Join(nd, fmt.Sprint(g)), 0o755))
		}
		syncAll()
		nativeRate = append(nativeRate, parallel(c, run, func(g, i int, data []byte) error {
			f, err := os.OpenFile(filepath.Join(nd, fmt.Sprint(g), fmt.Sprint(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}))
		syncAll()
		storeRate = append(storeRate, parallel(c, run+1000, func(g, i int, data []byte) error {
			_, err := st.Put(ctx, b.ID, fmt.Sprintf("r%d/%d/%d", run, g, i), bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))})
			return err
		}))
		fmt.Fprintf(os.Stderr, "small run %d: store %.0f puts/s, native %.0f files/s\n", run, storeRate[run], nativeRate[run])
	}
	return []row{ratioRow(fmt.Sprintf("4 KiB durable puts x%d", c.concurrency), "files/s", storeRate, nativeRate, "write+fsync per file", 1.0, true)}
}

// parallel runs c.smallFiles writes of unique 4 KiB contents spread over
// c.concurrency goroutines and returns the rate in files per second.
func parallel(c config, seed int, write func(g, i int, data []byte) error) float64 {
	per := c.smallFiles / c.concurrency
	var wg sync.WaitGroup
	errs := make(chan error, c.concurrency)
	t0 := time.Now()
	for g := range c.concurrency {
		wg.Go(func() {
			data := make([]byte, 4096)
			for i := range per {
				for j := 0; j < len(data); j += 8 {
					binary.LittleEndian.PutUint64(data[j:], uint64(seed)<<48|uint64(g)<<32|uint64(i)<<12|uint64(j))
				}
				if err := write(g, i, data); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	close(errs)
	for err := range errs {
		must(err)
	}
	return float64(per*c.concurrency) / el.Seconds()
}
