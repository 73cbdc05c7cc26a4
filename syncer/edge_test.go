package syncer

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// S15's ctime case: a rewrite that keeps the size and puts the old mtime
// back (tools that preserve timestamps, `touch -r`) still moves the ctime,
// and that is enough to find the change.
func TestRewriteWithRestoredMtimeIsFound(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	p := filepath.Join(dir, "same-size.txt")
	writeFile(t, p, []byte("first content"))
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	opts := testOpts()
	if _, err := onceWith(t, st, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "same-size.txt", []byte("first content"))

	// The ctime has a clock tick of its own; make sure it can move.
	time.Sleep(20 * time.Millisecond)
	writeFile(t, p, []byte("other content"))
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != int64(len("first content")) || !fi.ModTime().Equal(mtime) {
		t.Fatalf("setup: size and mtime must be unchanged: %v %v", fi, err)
	}
	if _, err := onceWith(t, st, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "same-size.txt", []byte("other content"))
	if n := liveVersions(t, st, "same-size.txt"); n != 2 {
		t.Fatalf("%d versions, want 2", n)
	}
}
