package storage_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// The crash test runs this test binary again as a child (TestCrashChild,
// selected by these variables) that writes until it is killed.
const (
	crashDirEnv   = "BUCKETFS_CRASH_DIR"
	crashRoundEnv = "BUCKETFS_CRASH_ROUND"
	// crashNoSyncEnv makes the child's puts NoSync (process-crash durability).
	crashNoSyncEnv = "BUCKETFS_CRASH_NOSYNC"
	crashWorkers   = 8
	crashPartSize  = 64 << 10
)

func crashOptions() storage.Options {
	o := storage.DefaultOptions()
	o.MinPartSize = crashPartSize
	return o
}

// crashContent is the content of one put of the child: small files (kept
// inline in the index), blob-sized ones, a few large ones, and every seventh
// a repeat (dedup under concurrency).
func crashContent(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 99))
	if seed%7 == 0 {
		r = rand.New(rand.NewPCG(seed%5, 7))
	}
	var n int
	switch r.IntN(10) {
	case 0:
		n = 0
	case 1:
		n = 1<<20 + r.IntN(1<<20)
	case 2, 3, 4, 5:
		n = 20<<10 + r.IntN(300<<10)
	default:
		n = r.IntN(16 << 10)
	}
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// TestCrashChild is the child of TestCrash: it puts objects from several
// goroutines (plain puts, overwrites and multipart uploads) and prints
// "ACK key version blake3" for every acknowledged one, until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash")
	}
	round, _ := strconv.ParseUint(os.Getenv(crashRoundEnv), 10, 32)
	ctx := t.Context()
	st, err := storage.Open(dir, crashOptions())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if _, err := st.GetBucket(ctx, "crash"); errors.Is(err, storage.ErrNotFound) {
		_, err = st.CreateBucket(ctx, storage.BucketOptions{Name: "crash"})
		if err != nil {
			t.Fatalf("create bucket: %v", err)
		}
	} else if err != nil {
		t.Fatalf("get bucket: %v", err)
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", a...)
	}
	noSync := os.Getenv(crashNoSyncEnv) != ""
	say("READY")
	for w := range crashWorkers {
		go func() {
			for i := uint64(0); ; i++ {
				seed := round<<40 | uint64(w)<<32 | i
				data := crashContent(seed)
				key := fmt.Sprintf("r%d/w%d/%d", round, w, i)
				if i%4 == 3 {
					key = fmt.Sprintf("hot/w%d", w) // overwrites
				}
				var v *storage.ObjectVersion
				var err error
				if len(data) > 2*crashPartSize && i%3 == 0 {
					v, err = crashMultipart(st, t, key, data)
				} else {
					v, err = st.Put(ctx, "crash", key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), NoSync: noSync})
				}
				if err != nil {
					say("ERR %s %v", key, err)
					continue
				}
				say("ACK %s %s %s", key, v.VersionID, blake3Hex(data))
			}
		}()
	}
	select {}
}

func crashMultipart(st *storage.Store, t *testing.T, key string, data []byte) (*storage.ObjectVersion, error) {
	ctx := t.Context()
	size := int64(len(data))
	mp, err := st.InitMultipart(ctx, "crash", key, size, crashPartSize, storage.PutOptions{Size: size})
	if err != nil {
		return nil, err
	}
	for n := range mp.Parts() {
		lo := int64(n) * crashPartSize
		hi := min(lo+crashPartSize, size)
		if _, err := st.UploadPart(ctx, mp.UploadID, n, bytes.NewReader(data[lo:hi]), hi-lo); err != nil {
			return nil, err
		}
	}
	return st.CompleteMultipart(ctx, mp.UploadID)
}

type crashAck struct{ version, sum string }

// TestCrash kills a writing child with SIGKILL at random points, several
// times; after every reopen each acknowledged object must read back with its
// checksum, and after clean-up no blob or temp file may be left over.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: crash test")
	}
	seed := uint64(time.Now().UnixNano())
	if *modelSeed != 0 {
		seed = *modelSeed
	}
	t.Logf("seed %d (replay the kill points: -seed=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	acks := map[string]crashAck{} // key@version -> ack
	const rounds = 5
	for round := range rounds {
		// Kill after a random number of acknowledgements plus a random
		// delay, so that puts are always in flight.
		wantAcks, delay := 1+r.IntN(150), time.Duration(r.IntN(40))*time.Millisecond
		got, errs := runCrashChild(t, dir, round, wantAcks, delay)
		for _, a := range got {
			acks[a[0]+"@"+a[1]] = crashAck{a[1], a[2]}
		}
		t.Logf("round %d: killed after %d acks (+%v), %d acks read, %d put errors", round, wantAcks, delay, len(got), len(errs))
		for _, e := range errs {
			t.Errorf("child put failed before the kill: %s", e)
		}
		verifyAcks(t, dir, acks)
	}
	cleanAndCheckLeftovers(t, dir)
}

// runCrashChild runs one child until it has printed wantAcks acks, waits
// delay, kills it, and returns every ack it printed ([key, version, sum]).
func runCrashChild(t *testing.T, dir string, round, wantAcks int, delay time.Duration) (acks [][3]string, errs []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	enough := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 4 && f[0] == "ACK" && len(f[3]) == len("blake3:")+64:
				acks = append(acks, [3]string{f[1], f[2], f[3]})
				if n++; n == wantAcks {
					close(enough)
				}
			case len(f) > 0 && f[0] == "ERR":
				errs = append(errs, sc.Text())
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-enough:
	case <-done:
		cmd.Wait()
		t.Fatalf("child ended before %d acks: %s", wantAcks, stderr.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child gave fewer than %d acks in 2 minutes: %s", wantAcks, stderr.String())
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	<-done
	cmd.Wait()
	return acks, errs
}

// verifyAcks reopens the store and reads every acknowledged version.
func verifyAcks(t *testing.T, dir string, acks map[string]crashAck) {
	t.Helper()
	ctx := t.Context()
	st, err := storage.Open(dir, crashOptions())
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer st.Close()
	for kv, a := range acks {
		key := strings.TrimSuffix(kv, "@"+a.version)
		rc, v, err := st.Get(ctx, "crash", key, a.version, 0, -1)
		if err != nil {
			t.Fatalf("acknowledged %s lost: %v", kv, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", kv, err)
		}
		if got := blake3Hex(data); got != a.sum || v.File.BLAKE3 != a.sum {
			t.Fatalf("acknowledged %s reads back with checksum %s (recorded %s), want %s", kv, got, v.File.BLAKE3, a.sum)
		}
	}
}

// cleanAndCheckLeftovers expires the uploads the kills interrupted, collects
// garbage, and checks that the blob tree holds exactly the referenced files.
func cleanAndCheckLeftovers(t *testing.T, dir string) {
	t.Helper()
	ctx := t.Context()
	st, err := storage.Open(dir, crashOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	expired, err := st.ExpireMultiparts(ctx, time.Nanosecond)
	if err != nil {
		t.Fatalf("ExpireMultiparts: %v", err)
	}
	removed, err := st.CollectGarbage(ctx)
	if err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	t.Logf("clean-up: %d interrupted uploads expired, %d garbage blobs removed", expired, removed)
	if n, err := st.CollectGarbage(ctx); err != nil || n != 0 {
		t.Fatalf("second CollectGarbage removed %d (%v), want 0", n, err)
	}
	if ms, err := st.ListMultiparts(ctx, "crash"); err != nil || len(ms) != 0 {
		t.Fatalf("uploads left after expiry: %d (%v)", len(ms), err)
	}

	referenced := map[string]bool{}
	o := storage.ListOptions{Versions: true}
	for {
		res, err := st.List(ctx, "crash", o)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Objects {
			// Inline files keep their bytes in the index, not in a blob.
			if v.File != nil && !strings.HasPrefix(v.File.URI, "inline:") {
				referenced[v.File.ID] = true
			}
		}
		if res.Next == "" {
			break
		}
		o.After = res.Next
	}
	blobs := filepath.Join(dir, "blobs")
	found := map[string]bool{}
	err = filepath.WalkDir(blobs, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(blobs, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 4 || parts[3] != "data" {
			t.Errorf("left over: %s", rel)
			return nil
		}
		id := parts[0] + parts[1] + parts[2]
		if !referenced[id] {
			t.Errorf("unreferenced blob left over: %s", rel)
		}
		found[id] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id := range referenced {
		if !found[id] {
			t.Errorf("referenced file %s has no blob", id)
		}
	}
	t.Logf("%d referenced files, %d blobs", len(referenced), len(found))
}
