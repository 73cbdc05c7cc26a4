package syncer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/bucketfs/bucketfs/storage"
)

// daemon runs an engine in watch mode until the test ends.
func daemon(t *testing.T, st storage.ObjectStore, dir, state string, opts Options, mode Mode) *Engine {
	t.Helper()
	e, err := Open(st, state, []FolderConfig{{Path: dir, Bucket: testBucket, Mode: mode}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; e.Close() })
	return e
}

func remoteEquals(st storage.ObjectStore, key string, want []byte) bool {
	rc, _, err := st.Get(context.Background(), testBucket, key, "", 0, -1)
	if err != nil {
		return false
	}
	defer rc.Close()
	var b bytes.Buffer
	b.ReadFrom(rc)
	return bytes.Equal(b.Bytes(), want)
}

func mustWrite(p string, b []byte) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		panic(err)
	}
	f.Write(b)
	f.Sync()
	f.Close()
}

// editorSaves replays the syscall sequences of common editors and tools.
var editorSaves = map[string]func(dir, name string, data []byte){
	"vim-backupcopy-no": func(dir, name string, data []byte) {
		p := filepath.Join(dir, name)
		mustWrite(filepath.Join(dir, ".swp-"+name+".swp"), []byte("swap"))
		mustWrite(filepath.Join(dir, "4913"), nil)
		os.Remove(filepath.Join(dir, "4913"))
		os.Rename(p, p+"~")
		mustWrite(p, data)
		os.Remove(p + "~")
		os.Remove(filepath.Join(dir, ".swp-"+name+".swp"))
	},
	"vim-backupcopy-yes": func(dir, name string, data []byte) {
		p := filepath.Join(dir, name)
		old, _ := os.ReadFile(p)
		mustWrite(filepath.Join(dir, "4913"), nil)
		os.Remove(filepath.Join(dir, "4913"))
		mustWrite(p+"~", old)
		mustWrite(p, data) // O_TRUNC in place
		os.Remove(p + "~")
	},
	"emacs": func(dir, name string, data []byte) {
		p := filepath.Join(dir, name)
		os.Symlink("user@host.1234:1700000000", filepath.Join(dir, ".#"+name))
		os.Rename(p, p+"~")
		mustWrite(p, data)
		os.Remove(filepath.Join(dir, ".#"+name))
	},
	"vscode-tmp-rename": func(dir, name string, data []byte) {
		tmp := filepath.Join(dir, "."+name+".tmp.4711")
		mustWrite(tmp, data)
		os.Rename(tmp, filepath.Join(dir, name))
	},
	"jetbrains": func(dir, name string, data []byte) {
		p := filepath.Join(dir, name)
		mustWrite(p+"___jb_tmp___", data)
		os.Rename(p, p+"___jb_old___")
		os.Rename(p+"___jb_tmp___", p)
		os.Remove(p + "___jb_old___")
	},
	"gedit": func(dir, name string, data []byte) {
		tmp := filepath.Join(dir, ".goutputstream-AB12CD")
		mustWrite(tmp, data)
		os.Rename(tmp, filepath.Join(dir, name))
	},
	"libreoffice": func(dir, name string, data []byte) {
		lock := filepath.Join(dir, ".~lock."+name+"#")
		mustWrite(lock, []byte("lock"))
		tmp := filepath.Join(dir, "lu1234abcd.tmp")
		mustWrite(tmp, data)
		os.Rename(tmp, filepath.Join(dir, name))
		os.Remove(lock)
	},
	"sed-i": func(dir, name string, data []byte) {
		tmp := filepath.Join(dir, "sedAb12Cd")
		mustWrite(tmp, data)
		os.Rename(tmp, filepath.Join(dir, name))
	},
	"rsync-default": func(dir, name string, data []byte) {
		tmp := filepath.Join(dir, "."+name+".Xy12Zq")
		mustWrite(tmp, data)
		os.Rename(tmp, filepath.Join(dir, name))
	},
	"rsync-inplace": func(dir, name string, data []byte) {
		f, _ := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0)
		f.WriteAt(data, 0)
		f.Truncate(int64(len(data)))
		f.Close()
	},
}

func TestEditorSavesGiveOneVersion(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	var names []string
	for n := range editorSaves {
		names = append(names, n)
		writeFile(t, filepath.Join(dir, n+".txt"), []byte("original "+n))
	}
	sort.Strings(names)
	opts := testOpts()
	daemon(t, st, dir, state, opts, ModePush)
	eventually(t, 10*time.Second, "initial sync", func() bool { return len(heads(t, st)) == len(names) })
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			editorSaves[n](dir, n+".txt", []byte("saved by "+n))
		}()
	}
	wg.Wait()
	eventually(t, 10*time.Second, "saves to arrive", func() bool {
		for _, n := range names {
			if !remoteEquals(st, n+".txt", []byte("saved by "+n)) {
				return false
			}
		}
		return true
	})
	// Unchanged saves (same content) must not add versions.
	for _, n := range names {
		editorSaves[n](dir, n+".txt", []byte("saved by "+n))
	}
	time.Sleep(4 * (opts.Delay + opts.DeleteDelay))
	h := heads(t, st)
	if len(h) != len(names) {
		var keys []string
		for k := range h {
			keys = append(keys, k)
		}
		t.Fatalf("remote keys %v: temp, backup, lock or probe files were synced", keys)
	}
	for _, n := range names {
		if c := liveVersions(t, st, n+".txt"); c != 2 {
			t.Errorf("%s: %d versions, want 2 (original + one per changing save)", n, c)
		}
	}
}

func TestWatchRenameIsCopyAndDirRename(t *testing.T) {
	fs := &faultStore{ObjectStore: newStore(t)}
	dir, state := t.TempDir(), t.TempDir()
	big := randBytes(7, 3<<20)
	writeFile(t, filepath.Join(dir, "big.bin"), big)
	for i := 0; i < 30; i++ {
		writeFile(t, filepath.Join(dir, "d", "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), []byte{byte(i)})
	}
	opts := testOpts()
	opts.MaxDelete = 5 // a directory rename must not count as deletes
	e := daemon(t, fs, dir, state, opts, ModePush)
	// The counters move after the puts return: wait for the bytes too, or a
	// late count of the initial sync looks like a rename's upload.
	initial := int64(len(big) + 30)
	eventually(t, 10*time.Second, "initial sync", func() bool {
		return len(heads(t, fs)) == 31 && e.Counters()["payload_bytes"] == initial
	})
	sent := e.Counters()["payload_bytes"]
	os.Rename(filepath.Join(dir, "big.bin"), filepath.Join(dir, "renamed.bin"))
	os.MkdirAll(filepath.Join(dir, "x"), 0o755)
	os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "x", "d2"))
	eventually(t, 10*time.Second, "renames", func() bool {
		// Every one of the 30 files must have moved: checking one of them
		// passed while the rest were still on their way.
		h := heads(t, fs)
		moved := 0
		for k := range h {
			if strings.HasPrefix(k, "x/d2/") {
				moved++
			}
		}
		return h["renamed.bin"] != nil && h["big.bin"] == nil && moved == 30 && len(h) == 31
	})
	if d := e.Counters()["payload_bytes"] - sent; d != 0 {
		t.Fatalf("renames sent %d payload bytes, want 0", d)
	}
	if e.Counters()["copies"] != 31 {
		t.Fatalf("copies %d, want 31", e.Counters()["copies"])
	}
	// Files created in the renamed directory are still seen (watches follow).
	writeFile(t, filepath.Join(dir, "x", "d2", "new"), []byte("new"))
	eventually(t, 10*time.Second, "file in renamed dir", func() bool { return remoteEquals(fs, "x/d2/new", []byte("new")) })
	// A single delete becomes a delete marker after the hold.
	os.Remove(filepath.Join(dir, "renamed.bin"))
	eventually(t, 10*time.Second, "delete", func() bool { return heads(t, fs)["renamed.bin"] == nil })
	if n := liveVersions(t, fs, "renamed.bin"); n != 1 {
		t.Fatalf("deleted file has %d versions, want 1 (restorable)", n)
	}
}

func TestWatcherOverflowRescans(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(dir, "quiet"), 0o755)
	e := daemon(t, st, dir, state, testOpts(), ModePush)
	f := e.folders[0]
	eventually(t, 5*time.Second, "watcher", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.w != nil && f.watches == 2 })
	// The initial pass must be over, or its walk finds the file below.
	eventually(t, 5*time.Second, "initial pass", func() bool { return e.Status().Folders[0].FullScans >= 1 })
	f.mu.Lock()
	w := f.w.w
	f.mu.Unlock()
	// Lose the events of one directory, then report an overflow.
	w.Remove(filepath.Join(dir, "quiet"))
	writeFile(t, filepath.Join(dir, "quiet", "lost.txt"), []byte("lost"))
	time.Sleep(300 * time.Millisecond)
	if heads(t, st)["quiet/lost.txt"] != nil {
		t.Fatal("test setup: event was not lost")
	}
	w.Errors <- fsnotify.ErrEventOverflow
	eventually(t, 5*time.Second, "overflow rescan", func() bool { return remoteEquals(st, "quiet/lost.txt", []byte("lost")) })
	// The rescan uploads the file before it finishes and counts itself.
	eventually(t, 5*time.Second, "the rescan counted", func() bool { return e.Status().Folders[0].FullScans >= 2 })
	if s := e.Status().Folders[0]; s.Overflows != 1 {
		t.Fatalf("status %+v", s)
	}
}

func TestWatchLimitFallsBackToPolling(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	for _, d := range []string{"a", "b", "c"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	n := 0
	var mu sync.Mutex
	watchAddHook = func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if n++; n > 2 {
			return syscall.ENOSPC
		}
		return nil
	}
	defer func() { watchAddHook = nil }()
	e := daemon(t, st, dir, state, testOpts(), ModePush)
	eventually(t, 5*time.Second, "polling mode", func() bool {
		s := e.Status().Folders[0]
		return !s.Watching && strings.Contains(s.WatchWarning, "fs.inotify.max_user_watches")
	})
	writeFile(t, filepath.Join(dir, "c", "late.txt"), []byte("late"))
	eventually(t, 5*time.Second, "poll to find the file", func() bool { return remoteEquals(st, "c/late.txt", []byte("late")) })
}

func TestPullAndBoth(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	opts := testOpts()
	opts.RemotePollInterval = 200 * time.Millisecond
	writeFile(t, filepath.Join(dir, "local.txt"), []byte("mine"))
	daemon(t, st, dir, state, opts, ModeBoth)
	eventually(t, 5*time.Second, "push", func() bool { return remoteEquals(st, "local.txt", []byte("mine")) })
	ctx := context.Background()
	st.Put(ctx, testBucket, "from/remote.txt", strings.NewReader("theirs"), storage.PutOptions{Size: 6})
	eventually(t, 5*time.Second, "pull", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "from", "remote.txt"))
		return err == nil && string(b) == "theirs"
	})
	// A pulled file is not pushed back as a new version.
	time.Sleep(500 * time.Millisecond)
	if n := liveVersions(t, st, "from/remote.txt"); n != 1 {
		t.Fatalf("pulled file has %d versions, want 1", n)
	}
	// Remote update of a file unchanged locally replaces it.
	st.Put(ctx, testBucket, "local.txt", strings.NewReader("updated"), storage.PutOptions{Size: 7})
	eventually(t, 5*time.Second, "pull update", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "local.txt"))
		return string(b) == "updated"
	})
	// Remote delete removes the unchanged local file.
	st.Delete(ctx, testBucket, "from/remote.txt", storage.DeleteOptions{})
	eventually(t, 5*time.Second, "pull delete", func() bool {
		_, err := os.Stat(filepath.Join(dir, "from", "remote.txt"))
		return os.IsNotExist(err)
	})
}

func TestStatusFileForSyncStatus(t *testing.T) {
	st := newStore(t)
	dir, state := t.TempDir(), t.TempDir()
	for _, d := range []string{"a", "a/b", "c"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.MkdirAll(filepath.Join(dir, "node_modules", "x"), 0o755)
	writeFile(t, filepath.Join(dir, IgnoreFile), []byte("node_modules/\n"))
	writeFile(t, filepath.Join(dir, "bad\xff"), []byte("x"))
	daemon(t, st, dir, state, testOpts(), ModePush)
	eventually(t, 10*time.Second, "status file", func() bool {
		s, err := ReadStatus(state)
		if err != nil || len(s.Folders) != 1 {
			return false
		}
		f := s.Folders[0]
		return f.Watching && f.Watches == 4 && len(f.Errors) == 1 && f.Errors[0].Permanent && f.Tracked == 1
	})
}
