package syncer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBigFileHashedWhileUploading: a new big file of a size no tracked file
// has is hashed beside its upload; the hash journaled that way is the real
// one, so a later touch makes no version and a copy costs no payload.
func TestBigFileHashedWhileUploading(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	opts := testOpts()
	big := randBytes(11, 5<<20+123)
	writeFile(t, filepath.Join(dir, "big.bin"), big)
	e := openEngine(t, st, dir, state, opts)
	if err := e.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "big.bin", big)
	if c := e.Counters(); c["completes"] != 1 {
		t.Fatalf("counters %v, want one multipart upload", c)
	}
	rec, err := e.j.get(e.folders[0].fid, "big.bin")
	if err != nil || rec == nil || rec.Hash != hashBytes(big) {
		t.Fatalf("journaled %+v (%v), want hash %s", rec, err, hashBytes(big))
	}
	e.Close()

	// A copy (same size as a tracked file: hashed first) is a server-side
	// copy; a touch makes no version.
	writeFile(t, filepath.Join(dir, "copy.bin"), big)
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "big.bin"), future, future); err != nil {
		t.Fatal(err)
	}
	e, err = onceWith(t, st, dir, state, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Counters(); c["payload_bytes"] != 0 || c["copies"] != 1 {
		t.Fatalf("counters %v, want 0 payload bytes and 1 copy", c)
	}
	if n := liveVersions(t, st, "big.bin"); n != 1 {
		t.Fatalf("touch made %d versions, want 1", n)
	}
	wantContent(t, st, "copy.bin", big)
}
