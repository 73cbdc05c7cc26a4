package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
)

// openTest opens a store on badger in a temp dir (or memory with mem).
// Files are never inline, so tests see every file as a blob; inline files
// have their own test.
func openTest(t *testing.T, mem bool) *Store {
	return openTestWith(t, mem, func(o *Options) { o.InlineSize = -1 })
}

func openTestWith(t *testing.T, mem bool, tweak func(*Options)) *Store {
	t.Helper()
	opts := DefaultOptions()
	opts.MinPartSize = 4
	tweak(&opts)
	if mem {
		opts.DB = metadata.NewMemory()
	}
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func forBoth(t *testing.T, f func(t *testing.T, s *Store)) {
	t.Run("badger", func(t *testing.T) { f(t, openTest(t, false)) })
	t.Run("memory", func(t *testing.T) { f(t, openTest(t, true)) })
}

func put(t *testing.T, s *Store, b, k, data string) *ObjectVersion {
	t.Helper()
	v, err := s.Put(context.Background(), b, k, strings.NewReader(data), PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("put %s: %v", k, err)
	}
	return v
}

func read(t *testing.T, s *Store, b, k, vid string) string {
	t.Helper()
	rc, _, err := s.Get(context.Background(), b, k, vid, 0, -1)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", k, err)
	}
	return string(data)
}

func bucketSize(t *testing.T, s *Store, b string) int64 {
	t.Helper()
	bk, err := s.GetBucket(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return bk.Size
}

func TestBasicFlow(t *testing.T) {
	forBoth(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		b, err := s.CreateBucket(ctx, BucketOptions{Name: "photos"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateBucket(ctx, BucketOptions{Name: "photos"}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate name: %v", err)
		}
		v1 := put(t, s, "photos", "a/b.txt", "hello")
		if v1.Mimetype != "text/plain" || v1.File.MD5 != "md5:5d41402abc4b2a76b9719d911017c592" || !v1.IsHead {
			t.Fatalf("v1 = %+v %+v", v1, v1.File)
		}
		v2 := put(t, s, b.ID, "a/b.txt", "world!")
		if got := read(t, s, "photos", "a/b.txt", ""); got != "world!" {
			t.Fatalf("head = %q", got)
		}
		if got := read(t, s, "photos", "a/b.txt", v1.VersionID); got != "hello" {
			t.Fatalf("v1 = %q", got)
		}
		vs, err := s.Versions(ctx, "photos", "a/b.txt")
		if err != nil || len(vs) != 2 || vs[0].VersionID != v2.VersionID || !vs[0].IsHead || vs[1].IsHead {
			t.Fatalf("versions = %v %v", vs, err)
		}
		if bucketSize(t, s, "photos") != 11 {
			t.Fatalf("size = %d", bucketSize(t, s, "photos"))
		}
		m, err := s.Delete(ctx, "photos", "a/b.txt", DeleteOptions{})
		if err != nil || !m.DeleteMarker() {
			t.Fatalf("delete: %v %v", m, err)
		}
		if _, err := s.Stat(ctx, "photos", "a/b.txt", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("stat after delete: %v", err)
		}
		if _, err := s.Delete(ctx, "photos", "a/b.txt", DeleteOptions{}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		if bucketSize(t, s, "photos") != 11 {
			t.Fatalf("size after delete = %d", bucketSize(t, s, "photos"))
		}
		if err := s.RemoveVersion(ctx, "photos", "a/b.txt", v1.VersionID); err != nil {
			t.Fatal(err)
		}
		if bucketSize(t, s, "photos") != 6 {
			t.Fatalf("size after remove = %d", bucketSize(t, s, "photos"))
		}
		if _, err := s.Restore(ctx, "photos", "a/b.txt", v2.VersionID); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, "photos", "a/b.txt", ""); got != "world!" {
			t.Fatalf("restored = %q", got)
		}
		evs, err := s.Events(ctx, 0, 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for i, e := range evs {
			if e.Seq != uint64(i+1) || e.Origin.Kind != "api" {
				t.Fatalf("event %d = %+v", i, e)
			}
			names = append(names, e.Name)
		}
		want := []string{EventBucketCreated, EventPut, EventPut, EventDeleteMarker, EventDelete, EventRestore}
		if strings.Join(names, ",") != strings.Join(want, ",") {
			t.Fatalf("events = %v", names)
		}
	})
}

func TestEventsWait(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	done := make(chan []Event)
	go func() {
		evs, _ := s.Events(ctx, 0, 10, time.Minute)
		done <- evs
	}()
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if evs := <-done; len(evs) != 1 || evs[0].Name != EventBucketCreated {
		t.Fatalf("events = %v", evs)
	}
}

func TestListDelimiter(t *testing.T) {
	forBoth(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.CreateBucket(ctx, BucketOptions{Name: "b"})
		for _, k := range []string{"a", "d/1", "d/2", "d/e/3", "e/", "f", "g/h"} {
			put(t, s, "b", k, k)
		}
		var objs, prefixes []string
		after := ""
		for {
			page, err := s.List(ctx, "b", ListOptions{Delimiter: "/", After: after, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Objects {
				objs = append(objs, o.Key)
			}
			prefixes = append(prefixes, page.Prefixes...)
			if page.Next == "" {
				break
			}
			after = page.Next
		}
		if strings.Join(objs, ",") != "a,f" || strings.Join(prefixes, ",") != "d/,e/,g/" {
			t.Fatalf("objs %v prefixes %v", objs, prefixes)
		}
		page, err := s.List(ctx, "b", ListOptions{Prefix: "d/", Delimiter: "/"})
		if err != nil || len(page.Objects) != 2 || len(page.Prefixes) != 1 || page.Prefixes[0] != "d/e/" {
			t.Fatalf("d/: %+v %v", page, err)
		}
	})
}

func TestPutBodyChecks(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	if _, err := s.Put(ctx, "b", "k", strings.NewReader("abc"), PutOptions{Size: 5}); !errors.Is(err, ErrShortBody) {
		t.Fatalf("short: %v", err)
	}
	if _, err := s.Put(ctx, "b", "k", strings.NewReader("abcdef"), PutOptions{Size: 5}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long: %v", err)
	}
	if _, err := s.Put(ctx, "b", "../k", bytes.NewReader(nil), PutOptions{}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bad key: %v", err)
	}
	if _, err := s.Put(ctx, "nope", "k", bytes.NewReader(nil), PutOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no bucket: %v", err)
	}
	v, err := s.Put(ctx, "b", "empty", bytes.NewReader(nil), PutOptions{Size: -1})
	if err != nil || v.Size() != 0 {
		t.Fatalf("empty: %v %v", v, err)
	}
}

func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, DefaultOptions()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second open: %v, want ErrUnavailable", err)
	}
	s.Close()
	s, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}
