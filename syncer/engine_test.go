package syncer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

func TestOnceUploadsModifiesRenamesDeletes(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	big := randBytes(1, 5<<20+123)
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("hello"))
	writeFile(t, filepath.Join(dir, "sub/b.txt"), []byte("world"))
	writeFile(t, filepath.Join(dir, "big.bin"), big)
	writeFile(t, filepath.Join(dir, "empty"), nil)
	writeFile(t, filepath.Join(dir, "x.swp"), []byte("swap")) // ignored by default
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	opts := testOpts()
	e, err := onceWith(t, st, dir, state, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "a.txt", []byte("hello"))
	wantContent(t, st, "sub/b.txt", []byte("world"))
	wantContent(t, st, "big.bin", big)
	wantContent(t, st, "empty", nil)
	h := heads(t, st)
	if _, ok := h["x.swp"]; ok {
		t.Fatal("ignored swap file was uploaded")
	}
	if h["link"] == nil || h["link"].Attrs["symlink"] != "a.txt" {
		t.Fatalf("symlink not synced as a link: %+v", h["link"])
	}
	if c := e.Counters(); c["parts"] != 6 || c["completes"] != 1 {
		t.Fatalf("multipart counters %v, want 6 parts and 1 complete", c)
	}

	// No-op pass: nothing sent.
	e, err = onceWith(t, st, dir, state, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Counters(); c["payload_bytes"] != 0 || c["puts"] != 0 || c["copies"] != 0 {
		t.Fatalf("no-op pass sent something: %v", c)
	}

	// Unchanged save (same content, new mtime): no version.
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(dir, "a.txt"), future, future)
	writeFile(t, filepath.Join(dir, "sub/b.txt"), []byte("world!"))
	if _, err = onceWith(t, st, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	if n := liveVersions(t, st, "a.txt"); n != 1 {
		t.Fatalf("touch made %d versions, want 1", n)
	}
	if n := liveVersions(t, st, "sub/b.txt"); n != 2 {
		t.Fatalf("edit gave %d versions, want 2", n)
	}

	// Rename of the big file and a directory: zero payload bytes.
	if err := os.Rename(filepath.Join(dir, "big.bin"), filepath.Join(dir, "moved.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "sub2")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "empty"))
	e, err = onceWith(t, st, dir, state, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Counters(); c["payload_bytes"] != 0 || c["copies"] != 2 {
		t.Fatalf("rename counters %v, want 0 payload bytes and 2 copies", c)
	}
	h = heads(t, st)
	for _, k := range []string{"big.bin", "sub/b.txt", "empty"} {
		if h[k] != nil {
			t.Fatalf("%s still live after rename/delete", k)
		}
	}
	wantContent(t, st, "moved.bin", big)
	wantContent(t, st, "sub2/b.txt", []byte("world!"))
	// Deletes are soft: the old versions are still there.
	if n := liveVersions(t, st, "big.bin"); n != 1 {
		t.Fatalf("deleted key has %d versions, want 1 kept", n)
	}
}

func TestLostCompleteResolvedOnce(t *testing.T) {
	fs := &faultStore{ObjectStore: newStore(t)}
	fs.lostComp.Store(true)
	dir, state := t.TempDir(), t.TempDir()
	big := randBytes(2, 4<<20)
	writeFile(t, filepath.Join(dir, "f"), big)
	if _, err := onceWith(t, fs, dir, state, testOpts()); err != nil {
		t.Fatal(err)
	}
	if n := liveVersions(t, fs, "f"); n != 1 {
		t.Fatalf("%d versions after a lost complete answer, want 1", n)
	}
	wantContent(t, fs, "f", big)
	mps, _ := fs.ListMultiparts(context.Background(), testBucket)
	for _, m := range mps {
		if !m.Completed {
			t.Fatalf("orphan upload %s left", m.UploadID)
		}
	}
}

// A crash (here: the engine's context ends) after some parts resumes
// without resending acknowledged parts, and never completes twice.
func TestResumeAfterInterruptedMultipart(t *testing.T) {
	fs := &faultStore{ObjectStore: newStore(t)}
	dir, state := t.TempDir(), t.TempDir()
	big := randBytes(3, 10<<20)
	writeFile(t, filepath.Join(dir, "f"), big)
	opts := testOpts()
	opts.PartsInFlight = 1
	ctx, cancel := context.WithCancel(context.Background())
	fs.partHook = func(n int) {
		if fs.parts.Load() == 4 {
			cancel()
		}
	}
	e := openEngine(t, fs, dir, state, opts)
	_ = e.Once(ctx)
	e.Close()
	if got := fs.parts.Load(); got < 4 || got > 5 {
		t.Fatalf("%d parts before the crash", got)
	}
	before := fs.parts.Load()
	fs.partHook = nil
	if _, err := onceWith(t, fs, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	if resent := fs.parts.Load() + before - 10 - before; fs.parts.Load() != 10 {
		t.Fatalf("%d parts sent in total for 10 (resent %d)", fs.parts.Load(), resent)
	}
	if n := liveVersions(t, fs, "f"); n != 1 {
		t.Fatalf("%d versions, want 1", n)
	}
	wantContent(t, fs, "f", big)
}

func TestChangedDuringUploadNeverTorn(t *testing.T) {
	fs := &faultStore{ObjectStore: newStore(t)}
	dir, state := t.TempDir(), t.TempDir()
	p := filepath.Join(dir, "f")
	writeFile(t, p, randBytes(4, 8<<20))
	opts := testOpts()
	opts.PartsInFlight = 1
	var once sync.Once
	fs.partHook = func(n int) {
		if n == 3 {
			once.Do(func() {
				// Rewrite the middle during the upload.
				f, _ := os.OpenFile(p, os.O_WRONLY, 0)
				f.WriteAt(randBytes(5, 1<<20), 2<<20)
				f.Close()
			})
		}
	}
	if _, err := onceWith(t, fs, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	final, _ := os.ReadFile(p)
	for _, v := range versions(t, fs, "f") {
		rc, _, err := fs.Get(context.Background(), testBucket, "f", v.VersionID, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if n := liveVersions(t, fs, "f"); n != 1 {
		t.Fatalf("%d versions, want exactly 1 (the stable state)", n)
	}
	wantContent(t, fs, "f", final)
}

func TestConflictKeepsBoth(t *testing.T) {
	for _, copyMode := range []bool{false, true} {
		st := newStore(t)
		dir, state := t.TempDir(), t.TempDir()
		writeFile(t, filepath.Join(dir, "doc.txt"), []byte("v1"))
		opts := testOpts()
		opts.ConflictCopy = copyMode
		if _, err := onceWith(t, st, dir, state, opts); err != nil {
			t.Fatal(err)
		}
		// Another writer moves the head; we edit locally.
		if _, err := st.Put(context.Background(), testBucket, "doc.txt", strings.NewReader("theirs"), storage.PutOptions{Size: 6}); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "doc.txt"), []byte("ours"))
		e, err := onceWith(t, st, dir, state, opts)
		if err != nil {
			t.Fatal(err)
		}
		s := e.Status()
		if len(s.Folders[0].Conflicts) != 1 {
			t.Fatalf("copy=%v: conflicts %+v, want 1", copyMode, s.Folders[0].Conflicts)
		}
		if copyMode {
			wantContent(t, st, "doc.txt", []byte("theirs"))
			c := s.Folders[0].Conflicts[0]
			if !strings.Contains(c.Copy, ".sync-conflict-") || !strings.HasSuffix(c.Copy, ".txt") {
				t.Fatalf("conflict copy key %q", c.Copy)
			}
			wantContent(t, st, c.Copy, []byte("ours"))
		} else {
			wantContent(t, st, "doc.txt", []byte("ours"))
			if n := liveVersions(t, st, "doc.txt"); n != 3 {
				t.Fatalf("%d versions, want 3 (v1, theirs, ours)", n)
			}
		}
	}
}

func TestDeleteSafety(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	for i := 0; i < 40; i++ {
		writeFile(t, filepath.Join(dir, "d", strings.Repeat("x", i%3+1)+string(rune('a'+i%26))+string(rune('a'+i/26))), []byte{byte(i)})
	}
	opts := testOpts()
	if _, err := onceWith(t, st, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	n0 := len(heads(t, st))
	// rm of 30 %: refused, nothing deleted.
	ents, _ := os.ReadDir(filepath.Join(dir, "d"))
	for _, de := range ents[:12] {
		os.Remove(filepath.Join(dir, "d", de.Name()))
	}
	_, err := onceWith(t, st, dir, state, opts)
	if !errors.Is(err, ErrTooManyDeletes) {
		t.Fatalf("mass delete: err %v, want ErrTooManyDeletes", err)
	}
	if n := len(heads(t, st)); n != n0 {
		t.Fatalf("mass delete removed %d keys", n0-n)
	}
	// With a raised limit it goes through.
	opts2 := opts
	opts2.MaxDeletePercent = 50
	if _, err := onceWith(t, st, dir, state, opts2); err != nil {
		t.Fatal(err)
	}
	if n := len(heads(t, st)); n != n0-12 {
		t.Fatalf("%d heads after allowed deletes, want %d", n, n0-12)
	}
	// Vanished root: refused, nothing deleted.
	os.Rename(dir, dir+".gone")
	if _, err := onceWith(t, st, dir, state, opts); !errors.Is(err, ErrRootMissing) {
		t.Fatalf("vanished root: err %v", err)
	}
	if n := len(heads(t, st)); n != n0-12 {
		t.Fatal("vanished root deleted keys")
	}
	os.Rename(dir+".gone", dir)
	// A read error holds every delete of the pass.
	ents, _ = os.ReadDir(filepath.Join(dir, "d"))
	os.Remove(filepath.Join(dir, "d", ents[0].Name()))
	os.MkdirAll(filepath.Join(dir, "locked", "in"), 0o755)
	os.Chmod(filepath.Join(dir, "locked"), 0)
	defer os.Chmod(filepath.Join(dir, "locked"), 0o755)
	if os.Geteuid() != 0 {
		if _, err := onceWith(t, st, dir, state, opts); err != nil {
			t.Fatal(err)
		}
		if n := len(heads(t, st)); n != n0-12 {
			t.Fatal("a pass with read errors deleted something")
		}
	}
}

func TestIgnoreChangeUntracksWithoutDeletes(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	for i := 0; i < 50; i++ {
		writeFile(t, filepath.Join(dir, "logs", "l"+string(rune('a'+i%26))+string(rune('a'+i/26))+".log"), []byte("x"))
	}
	writeFile(t, filepath.Join(dir, "keep.txt"), []byte("k"))
	opts := testOpts()
	if _, err := onceWith(t, st, dir, state, opts); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, IgnoreFile), []byte("# logs\n*.log\n"))
	e, err := onceWith(t, st, dir, state, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c := e.Counters(); c["deletes"] != 0 {
		t.Fatalf("ignore change deleted %d keys", c["deletes"])
	}
	if n := len(heads(t, st)); n != 52 {
		t.Fatalf("%d heads, want 52", n)
	}
	if tr := e.Status().Folders[0].Tracked; tr != 2 {
		t.Fatalf("tracked %d, want 2 (keep.txt and the ignore file)", tr)
	}
}

func TestJournalLostReadoptsWithoutUpload(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	for i := 0; i < 20; i++ {
		writeFile(t, filepath.Join(dir, "f"+string(rune('a'+i))), randBytes(uint64(i), 1000))
	}
	writeFile(t, filepath.Join(dir, "big"), randBytes(99, 3<<20))
	if _, err := onceWith(t, st, dir, t.TempDir(), testOpts()); err != nil {
		t.Fatal(err)
	}
	e, err := onceWith(t, st, dir, t.TempDir(), testOpts()) // a new, empty journal
	if err != nil {
		t.Fatal(err)
	}
	c := e.Counters()
	if c["puts"] != 0 || c["parts"] != 0 || c["adopted"] != 21 {
		t.Fatalf("rebuild counters %v, want 0 puts, 0 parts, 21 adopted", c)
	}
	if n := liveVersions(t, st, "fa"); n != 1 {
		t.Fatalf("%d versions", n)
	}
}

func TestPerFileErrorsDoNotStopOthers(t *testing.T) {
	fs := &faultStore{ObjectStore: newStore(t), failPut: 3}
	dir, state := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "bad\xffname"), []byte("x"))
	writeFile(t, filepath.Join(dir, "sub", strings.Repeat("n", 255)), []byte("x"))
	for i := 0; i < 5; i++ {
		writeFile(t, filepath.Join(dir, "ok"+string(rune('0'+i))), []byte("x"))
	}
	e := openEngine(t, fs, dir, state, testOpts())
	defer e.Close()
	err := e.Once(context.Background())
	if err == nil || !strings.Contains(err.Error(), "2 files not synced") {
		t.Fatalf("err %v, want 2 files not synced", err)
	}
	h := heads(t, fs)
	for i := 0; i < 5; i++ {
		if h["ok"+string(rune('0'+i))] == nil {
			t.Fatalf("ok%d not uploaded (a retryable failure must be retried)", i)
		}
	}
	errs := e.Status().Folders[0].Errors
	if len(errs) != 2 || !errs[0].Permanent {
		t.Fatalf("errors %+v", errs)
	}
}
