package fusefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// eventually polls cond until it holds or a generous deadline passes (no
// timing is asserted: the deadline only bounds a failing test).
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With the default (long) kernel cache lifetimes, changes made through the
// store API become visible through the mount: new names the kernel had
// cached as absent, new content and size of a file it had cached, deleted
// files and the directories that only they implied, new buckets.
func TestExternalChangesInvalidateLongCaches(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	put := func(key, content string) {
		t.Helper()
		if _, err := s.Put(ctx, "b", key, strings.NewReader(content), storage.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	put("d/f", "one")
	// Make the kernel cache: entries, attributes, pages, absent names.
	if got := readFile(t, filepath.Join(b, "d/f")); got != "one" {
		t.Fatal(got)
	}
	for _, p := range []string{"d/new", "e", "d/sub"} {
		if _, err := os.Stat(filepath.Join(b, p)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, err := os.ReadDir(filepath.Join(b, "d")); err != nil {
		t.Fatal(err)
	}

	put("d/f", "changed content")
	put("d/new", "n")
	put("e/g", "g")
	put("d/sub/x", "x")
	eventually(t, "overwrite seen", func() error {
		fi, err := os.Stat(filepath.Join(b, "d/f"))
		if err != nil {
			return err
		}
		if fi.Size() != int64(len("changed content")) {
			return errors.New("old size")
		}
		if got := readFile(t, filepath.Join(b, "d/f")); got != "changed content" {
			return errors.New("old content " + got)
		}
		return nil
	})
	for _, p := range []string{"d/new", "e/g", "d/sub/x"} {
		eventually(t, p+" appears", func() error {
			_, err := os.Stat(filepath.Join(b, p))
			return err
		})
	}

	if _, err := s.Delete(ctx, "b", "e/g", storage.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "b", "d/f", storage.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"e/g", "e", "d/f"} {
		eventually(t, p+" disappears", func() error {
			if _, err := os.Stat(filepath.Join(b, p)); !errors.Is(err, os.ErrNotExist) {
				return errors.New("still there")
			}
			return nil
		})
	}
	eventually(t, "deleted file listed in .versions", func() error {
		_, err := os.Stat(filepath.Join(b, "d/.versions/f"))
		return err
	})

	mnt := filepath.Dir(b)
	if _, err := os.Stat(filepath.Join(mnt, "c2")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if _, err := s.CreateBucket(ctx, storage.BucketOptions{Name: "c2"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new bucket appears", func() error {
		_, err := os.Stat(filepath.Join(mnt, "c2"))
		return err
	})
}

// Changes made through the mount are not invalidated behind the kernel's
// back: the mount's events carry its instance.
func TestOwnEventsRecognised(t *testing.T) {
	m := newMountFS(nil, DefaultOptions())
	own := storage.Event{BucketName: "b", Key: "k", Origin: m.origin}
	if m.onEvent(own) != nil {
		t.Fatal("own event invalidates")
	}
	other := own
	other.Origin = storage.Origin{Kind: "mount", Instance: newInstanceID()}
	if m.onEvent(other) == nil {
		t.Fatal("another mount's event ignored")
	}
	other.Origin = storage.Origin{Kind: "api"}
	if m.onEvent(other) == nil {
		t.Fatal("an API event ignored")
	}
}

// A file held open by one reader still opens at the store's current head
// for the next (close-to-open): a change made underneath (API, sync, a
// function) must not wait for every old descriptor to close.
func TestNewOpenSeesHeadWhileOldHandleOpen(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	put := func(content string) {
		t.Helper()
		if _, err := s.Put(ctx, "b", "f.txt", strings.NewReader(content), storage.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	put("old content")
	path := filepath.Join(b, "f.txt")
	held, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	buf := make([]byte, 64)
	if n, _ := held.ReadAt(buf, 0); string(buf[:n]) != "old content" {
		t.Fatalf("held read %q", buf[:n])
	}

	put("new content, longer")
	eventually(t, "a new open to see the new head", func() error {
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if string(got) != "new content, longer" {
			return errors.New("read " + string(got))
		}
		return nil
	})
	// The kernel's page cache is one per inode: the held descriptor reads
	// the new head as well, as after an overwrite in place.
	if n, _ := held.ReadAt(buf, 0); string(buf[:n]) != "new content, longer" {
		t.Fatalf("the held descriptor reads %q", buf[:n])
	}
}

// An attribute change made through the API (SetAttrs: no new version, an
// EventAttrs event) reaches a mount that cached the file's attributes.
func TestExternalAttrsChangeInvalidates(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "b", "f", strings.NewReader("x"), storage.PutOptions{Size: -1, Attrs: map[string]string{"mode": "420"}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(b, "f")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	if _, err := s.SetAttrs(ctx, "b", "f", "", map[string]string{"mode": "384"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new mode in the mount", func() error {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			return errors.New("mode " + fi.Mode().String())
		}
		return nil
	})
}
