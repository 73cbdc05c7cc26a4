package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// uniqueReader yields size bytes of incompressible content, distinct per
// seed (so no put deduplicates against an earlier run), cheaply: one random
// MiB with a per-MiB stamp.
type uniqueReader struct {
	buf       []byte
	seed, off int64
	size      int64
}

func newUniqueReader(seed, size int64) *uniqueReader {
	b := make([]byte, 1<<20)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	return &uniqueReader{buf: b, seed: seed, size: size}
}

func (r *uniqueReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.size {
		in := r.off % int64(len(r.buf))
		if in == 0 {
			binary.LittleEndian.PutUint64(r.buf[0:], uint64(r.seed))
			binary.LittleEndian.PutUint64(r.buf[8:], uint64(r.off))
		}
		c := copy(p[n:], r.buf[in:min(int64(len(r.buf)), in+r.size-r.off)])
		n += c
		r.off += int64(c)
	}
	return n, nil
}

func benchBig(ctx context.Context, c config) []row {
	dir := filepath.Join(c.dir, "big")
	must(os.RemoveAll(dir))
	must(os.MkdirAll(dir, 0o755))
	defer os.RemoveAll(dir)
	st := mustStore(openStore(filepath.Join(dir, "store")))
	defer st.Close()
	b, err := st.CreateBucket(ctx, storage.BucketOptions{})
	must(err)
	mb := float64(c.bigSize) / 1e6
	cold := true
	var putS, putP, getS, getP, md5S, md5P []float64
	ddFile := filepath.Join(dir, "dd.bin")
	for run := range c.runs {
		// Peer write: dd with one fsync at the end.
		t0 := time.Now()
		out, err := exec.Command("dd", "if=/dev/zero", "of="+ddFile, "bs=1M", fmt.Sprintf("count=%d", c.bigSize>>20), "conv=fsync").CombinedOutput()
		if err != nil {
			log.Fatalf("dd: %v %s", err, out)
		}
		putP = append(putP, mb/secs(time.Since(t0)))

		// Store write: one streaming Put (hashing, blob fsync, synced commit).
		key := fmt.Sprintf("big-%d", run)
		t0 = time.Now()
		v, err := st.Put(ctx, b.ID, key, newUniqueReader(int64(run)+time.Now().UnixNano(), c.bigSize), storage.PutOptions{Size: c.bigSize})
		must(err)
		putS = append(putS, mb/secs(time.Since(t0)))

		// Context: the MD5 the put left to the background checksummer
		// (computed here on demand from the blob), and md5sum of the same
		// blob: the bound that keeps MD5 out of the pass.
		t0 = time.Now()
		_, err = st.FileMD5(ctx, v.File.ID)
		must(err)
		md5S = append(md5S, mb/secs(time.Since(t0)))
		t0 = time.Now()
		if out, err := exec.Command("md5sum", v.File.URI).CombinedOutput(); err != nil {
			log.Fatalf("md5sum: %v %s", err, out)
		}
		md5P = append(md5P, mb/secs(time.Since(t0)))

		// Peer read with a cold cache.
		cold = dropCaches() && cold
		t0 = time.Now()
		if out, err := exec.Command("sh", "-c", "cat "+ddFile+" >/dev/null").CombinedOutput(); err != nil {
			log.Fatalf("cat: %v %s", err, out)
		}
		getP = append(getP, mb/secs(time.Since(t0)))

		// Store read with a cold cache.
		cold = dropCaches() && cold
		t0 = time.Now()
		rc, _, err := st.Get(ctx, b.ID, key, v.VersionID, 0, -1)
		must(err)
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		must(err)
		if n != c.bigSize {
			log.Fatalf("get read %d bytes, want %d", n, c.bigSize)
		}
		getS = append(getS, mb/secs(time.Since(t0)))
		must(st.RemoveVersion(ctx, b.ID, key, v.VersionID))
		_, err = st.CollectGarbage(ctx)
		must(err)
		os.Remove(ddFile)
		fmt.Fprintf(os.Stderr, "big run %d: put %.0f MB/s (dd %.0f), get %.0f MB/s (cat %.0f), md5 after the put %.0f MB/s (md5sum %.0f)\n",
			run, putS[run], putP[run], getS[run], getP[run], md5S[run], md5P[run])
	}
	getName := "cat, cold cache"
	if !cold {
		getName = "cat (cache NOT dropped)"
	}
	size := fmt.Sprintf("%d MiB", c.bigSize>>20)
	notes = append(notes, fmt.Sprintf("MD5 of the %s object after the put: store %.0f MB/s (reads the blob back; written with O_DIRECT, it is not cached), "+
		"md5sum of the same file right after %.0f MB/s (medians): MD5 of one stream is slower than the disk, so puts over 64 MiB leave it to a background checksummer",
		size, median(md5S), median(md5P)))
	return []row{
		ratioRow("put "+size, "MB/s", putS, putP, "dd bs=1M conv=fsync", 0.85, true),
		ratioRow("get "+size, "MB/s", getS, getP, getName, 0.85, true),
	}
}

// ratioRow compares medians; with higherGood the store must reach
// target×peer, else it must stay within target×peer.
func ratioRow(name, unit string, s, p []float64, peerName string, target float64, higherGood bool) row {
	r := row{name: name, unit: unit, store: median(s), peer: median(p), peerName: peerName, storeRuns: s, peerRuns: p, higherGood: higherGood}
	r.ratio = r.store / r.peer
	if higherGood {
		r.target = fmt.Sprintf(">= %.2f", target)
		r.pass = r.ratio >= target
	} else {
		r.target = fmt.Sprintf("<= %.2f", target)
		r.pass = r.ratio <= target
	}
	return r
}
