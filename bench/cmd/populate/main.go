// Command populate fills a bucketfs data directory with many empty objects
// under one prefix, straight through the store (many writers at once, so
// the store's group commit makes it quick). bench/mount.sh uses it to set up
// the 100,000-entry directory that the listing benchmarks read; creating
// it through the mount would only measure create speed again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bucketfs/bucketfs/storage"
)

func main() {
	data := flag.String("data", "", "data directory")
	bucket := flag.String("bucket", "ls", "bucket (created if missing)")
	prefix := flag.String("prefix", "big/", "key prefix")
	n := flag.Int("n", 100000, "number of objects")
	workers := flag.Int("workers", 64, "concurrent writers")
	flag.Parse()
	if err := run(*data, *bucket, *prefix, *n, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "populate:", err)
		os.Exit(1)
	}
}

func run(data, bucket, prefix string, n, workers int) error {
	s, err := storage.Open(data, storage.DefaultOptions())
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.CreateBucket(ctx, storage.BucketOptions{Name: bucket}); err != nil && !errors.Is(err, storage.ErrExists) {
		return err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				key := fmt.Sprintf("%sf%06d", prefix, i)
				if _, err := s.Put(ctx, bucket, key, strings.NewReader(""), storage.PutOptions{Size: 0}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
