package storetest

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

func uploadPart(t *testing.T, st storage.ObjectStore, mp *storage.Multipart, n int, data []byte) *storage.Part {
	t.Helper()
	lo := int64(n) * mp.PartSize
	hi := min(lo+mp.PartSize, int64(len(data)))
	p, err := st.UploadPart(t.Context(), mp.UploadID, n, bytes.NewReader(data[lo:hi]), hi-lo)
	if err != nil {
		t.Fatalf("UploadPart(%d): %v", n, err)
	}
	if p.Number != n || p.Start != lo || p.End != hi {
		t.Fatalf("UploadPart(%d) = %+v, want bytes [%d,%d)", n, p, lo, hi)
	}
	if want := md5Of(data[lo:hi]); p.Checksum != want {
		t.Errorf("part %d checksum %s, want %s", n, p.Checksum, want)
	}
	return p
}

func partNumbers(t *testing.T, st storage.ObjectStore, uploadID string) []int {
	t.Helper()
	ps, err := st.ListParts(t.Context(), uploadID)
	noErr(t, "ListParts", err)
	var ns []int
	for _, p := range ps {
		ns = append(ns, p.Number)
	}
	return ns
}

func (s *suite) testMultipartFlow(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	old := put(t, st, b.ID, "big.bin", []byte("old"))
	part := s.o.MinPartSize
	size := 2*part + 12345
	data := content(77, int(size))

	mp, err := st.InitMultipart(ctx, b.ID, "big.bin", size, part, storage.PutOptions{Size: size, Attrs: map[string]string{"mode": "420"}})
	noErr(t, "InitMultipart", err)
	if mp.UploadID == "" || mp.Size != size || mp.PartSize != part || mp.Completed || mp.Key != "big.bin" || mp.BucketID != b.ID || mp.Parts() != 3 {
		t.Fatalf("InitMultipart returned %+v", mp)
	}
	wantSize(t, st, b.ID, 3+size)
	g, err := st.GetMultipart(ctx, mp.UploadID)
	noErr(t, "GetMultipart", err)
	if g.UploadID != mp.UploadID || g.Size != size || g.PartSize != part || g.Completed {
		t.Fatalf("GetMultipart = %+v", g)
	}
	ms, err := st.ListMultiparts(ctx, b.ID)
	noErr(t, "ListMultiparts", err)
	if len(ms) != 1 || ms[0].UploadID != mp.UploadID {
		t.Fatalf("ListMultiparts = %+v", ms)
	}
	if ns := partNumbers(t, st, mp.UploadID); len(ns) != 0 {
		t.Fatalf("parts before any upload: %v", ns)
	}

	// Out of order, and part 0 first with wrong bytes then again: the last
	// upload of a part wins.
	uploadPart(t, st, mp, 2, data)
	wrong := content(78, int(size))
	_, err = st.UploadPart(ctx, mp.UploadID, 0, bytes.NewReader(wrong[:part]), part)
	noErr(t, "UploadPart(0, first try)", err)
	uploadPart(t, st, mp, 0, data)
	if ns := partNumbers(t, st, mp.UploadID); !slices.Equal(ns, []int{0, 2}) {
		t.Fatalf("ListParts = %v, want [0 2]", ns)
	}
	_, err = st.CompleteMultipart(ctx, mp.UploadID)
	wantErr(t, "CompleteMultipart with a missing part", err, storage.ErrConflict)
	// The head is still the old object while the upload is open.
	wantContent(t, st, b.ID, "big.bin", "", []byte("old"))

	uploadPart(t, st, mp, 1, data)
	ps, err := st.ListParts(ctx, mp.UploadID)
	noErr(t, "ListParts", err)
	if len(ps) != 3 || ps[0].Start != 0 || ps[1].Start != part || ps[2].End != size {
		t.Fatalf("ListParts = %+v", ps)
	}

	v, err := st.CompleteMultipart(ctx, mp.UploadID)
	noErr(t, "CompleteMultipart", err)
	checkVersion(t, v, "big.bin", data)
	if !v.IsHead || v.BucketID != b.ID {
		t.Fatalf("completed version %+v", v)
	}
	wantContent(t, st, b.ID, "big.bin", "", data)
	wantVersions(t, st, b.ID, "big.bin", v.VersionID, old.VersionID)
	wantSize(t, st, b.ID, 3+size) // the reservation became the version

	_, err = st.CompleteMultipart(ctx, mp.UploadID)
	wantErr(t, "CompleteMultipart twice", err, storage.ErrConflict)
	_, err = st.UploadPart(ctx, mp.UploadID, 1, bytes.NewReader(data[part:2*part]), part)
	wantErr(t, "UploadPart after completion", err, storage.ErrConflict)
	// A completed upload is either gone or remembers its version.
	g, err = st.GetMultipart(ctx, mp.UploadID)
	if err != nil {
		wantErr(t, "GetMultipart after completion", err, storage.ErrNotFound)
	} else if !g.Completed || g.VersionID != v.VersionID {
		t.Fatalf("GetMultipart after completion = %+v, want completed with version %s", g, v.VersionID)
	}
	ms, err = st.ListMultiparts(ctx, b.ID)
	noErr(t, "ListMultiparts", err)
	for _, m := range ms {
		if !m.Completed {
			t.Fatalf("ListMultiparts after completion lists an open upload %+v", m)
		}
	}
	wantContent(t, st, b.ID, "big.bin", "", data)
	wantSize(t, st, b.ID, 3+size)
	// An ordinary put of the same bytes deduplicates against the completed upload.
	d := put(t, st, b.ID, "same.bin", data)
	if d.File.ID != v.File.ID {
		t.Errorf("put of the bytes of a multipart upload: file %s, want %s (dedup)", d.File.ID, v.File.ID)
	}
}

func (s *suite) testMultipartExactMultiple(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	part := s.o.MinPartSize
	size := 2 * part
	data := content(5, int(size))
	mp, err := st.InitMultipart(t.Context(), b.ID, "exact", size, part, storage.PutOptions{Size: size})
	noErr(t, "InitMultipart", err)
	if mp.Parts() != 2 {
		t.Fatalf("%d parts, want 2", mp.Parts())
	}
	uploadPart(t, st, mp, 1, data) // the full-size last part (no upstream bug)
	uploadPart(t, st, mp, 0, data)
	v, err := st.CompleteMultipart(t.Context(), mp.UploadID)
	noErr(t, "CompleteMultipart", err)
	checkVersion(t, v, "exact", data)
	wantContent(t, st, b.ID, "exact", "", data)
}

func (s *suite) testMultipartInitErrors(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	part := s.o.MinPartSize
	init := func(bucket string, size, partSize int64) error {
		_, err := st.InitMultipart(ctx, bucket, "k", size, partSize, storage.PutOptions{Size: size})
		return err
	}
	wantErr(t, "part size below the minimum", init(b.ID, 3*part, part-1), storage.ErrInvalid)
	wantErr(t, "part size above the maximum", init(b.ID, 3*s.o.MaxPartSize, s.o.MaxPartSize+1), storage.ErrInvalid)
	wantErr(t, "total size not above the minimum part size", init(b.ID, part, part), storage.ErrInvalid)
	wantErr(t, "negative size", init(b.ID, -1, part), storage.ErrInvalid)
	wantErr(t, "more than the maximum number of parts", init(b.ID, part*int64(s.o.MaxParts)+1, part), storage.ErrInvalid)

	small := newBucket(t, st, storage.BucketOptions{MaxFileSize: 2 * part})
	wantErr(t, "multipart over max file size", init(small.ID, 2*part+1, part), storage.ErrTooLarge)
	q := newBucket(t, st, storage.BucketOptions{QuotaSize: 3 * part})
	put(t, st, q.ID, "x", content(1, 10))
	wantErr(t, "multipart over quota", init(q.ID, 3*part-5, part), storage.ErrQuotaExceeded)
	// The reservation counts against the quota of the next upload.
	noErr(t, "InitMultipart within quota", init(q.ID, 2*part, part))
	wantErr(t, "second multipart over quota", init(q.ID, part+1, part), storage.ErrQuotaExceeded)
	_, err := st.Put(ctx, q.ID, "y", bytes.NewReader(content(2, int(part))), storage.PutOptions{Size: part})
	wantErr(t, "put over quota with a reservation", err, storage.ErrQuotaExceeded)

	for _, x := range []*storage.Bucket{b, small} {
		ms, err := st.ListMultiparts(ctx, x.ID)
		noErr(t, "ListMultiparts", err)
		if len(ms) != 0 {
			t.Fatalf("refused inits left uploads %+v", ms)
		}
		wantSize(t, st, x.ID, 0)
	}
	wantSize(t, st, q.ID, 10+2*part)
}

func (s *suite) testMultipartPartErrors(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	part := s.o.MinPartSize
	size := 2*part + 1
	data := content(3, int(size))
	mp, err := st.InitMultipart(ctx, b.ID, "k", size, part, storage.PutOptions{Size: size})
	noErr(t, "InitMultipart", err)
	up := func(n int, body []byte, announced int64) error {
		_, err := st.UploadPart(ctx, mp.UploadID, n, bytes.NewReader(body), announced)
		return err
	}
	wantErr(t, "part number -1", up(-1, data[:part], part), storage.ErrInvalid)
	wantErr(t, "part number past the last", up(3, data[:1], 1), storage.ErrInvalid)
	wantErr(t, "part smaller than the part size", up(0, data[:part-1], part-1), storage.ErrInvalid)
	wantErr(t, "part larger than the part size", up(0, data[:part+1], part+1), storage.ErrInvalid)
	wantErr(t, "last part of the wrong size", up(2, data[:2], 2), storage.ErrInvalid)
	wantErr(t, "part with a short body", up(1, data[:part-10], part), storage.ErrShortBody)
	if ns := partNumbers(t, st, mp.UploadID); len(ns) != 0 {
		t.Fatalf("refused parts are listed: %v", ns)
	}
	_, err = st.CompleteMultipart(ctx, mp.UploadID)
	wantErr(t, "CompleteMultipart without parts", err, storage.ErrConflict)

	_, err = st.UploadPart(ctx, unknownID, 0, bytes.NewReader(data[:part]), part)
	wantErr(t, "UploadPart(unknown upload)", err, storage.ErrNotFound)
	_, err = st.GetMultipart(ctx, unknownID)
	wantErr(t, "GetMultipart(unknown upload)", err, storage.ErrNotFound)
	_, err = st.ListParts(ctx, unknownID)
	wantErr(t, "ListParts(unknown upload)", err, storage.ErrNotFound)
	_, err = st.CompleteMultipart(ctx, unknownID)
	wantErr(t, "CompleteMultipart(unknown upload)", err, storage.ErrNotFound)
	wantErr(t, "AbortMultipart(unknown upload)", st.AbortMultipart(ctx, unknownID), storage.ErrNotFound)

	// The upload still completes after all the refusals.
	for n := range 3 {
		uploadPart(t, st, mp, n, data)
	}
	v, err := st.CompleteMultipart(ctx, mp.UploadID)
	noErr(t, "CompleteMultipart", err)
	checkVersion(t, v, "k", data)
	wantContent(t, st, b.ID, "k", "", data)
}

func (s *suite) testMultipartAbort(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	part := s.o.MinPartSize
	size := part + 100
	data := content(4, int(size))
	mp, err := st.InitMultipart(ctx, b.ID, "k", size, part, storage.PutOptions{Size: size})
	noErr(t, "InitMultipart", err)
	uploadPart(t, st, mp, 0, data)
	wantSize(t, st, b.ID, size)
	noErr(t, "AbortMultipart", st.AbortMultipart(ctx, mp.UploadID))
	wantSize(t, st, b.ID, 0)
	_, err = st.GetMultipart(ctx, mp.UploadID)
	wantErr(t, "GetMultipart after abort", err, storage.ErrNotFound)
	_, err = st.ListParts(ctx, mp.UploadID)
	wantErr(t, "ListParts after abort", err, storage.ErrNotFound)
	_, err = st.UploadPart(ctx, mp.UploadID, 1, bytes.NewReader(data[part:]), 100)
	wantErr(t, "UploadPart after abort", err, storage.ErrNotFound)
	_, err = st.CompleteMultipart(ctx, mp.UploadID)
	wantErr(t, "CompleteMultipart after abort", err, storage.ErrNotFound)
	wantErr(t, "AbortMultipart twice", st.AbortMultipart(ctx, mp.UploadID), storage.ErrNotFound)
	ms, err := st.ListMultiparts(ctx, b.ID)
	noErr(t, "ListMultiparts", err)
	if len(ms) != 0 {
		t.Fatalf("ListMultiparts after abort: %+v", ms)
	}
	_, err = st.Stat(ctx, b.ID, "k", "")
	wantErr(t, "Stat after abort", err, storage.ErrNotFound)
}

func (s *suite) testMultipartConcurrentParts(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	part := s.o.MinPartSize
	size := 5*part + 3
	data := content(12, int(size))
	mp, err := st.InitMultipart(t.Context(), b.ID, "k", size, part, storage.PutOptions{Size: size})
	noErr(t, "InitMultipart", err)
	var wg sync.WaitGroup
	errs := make(chan error, mp.Parts())
	for n := range mp.Parts() {
		wg.Go(func() {
			lo := int64(n) * part
			hi := min(lo+part, size)
			if _, err := st.UploadPart(t.Context(), mp.UploadID, n, bytes.NewReader(data[lo:hi]), hi-lo); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent UploadPart: %v", err)
	}
	if ns := partNumbers(t, st, mp.UploadID); !slices.Equal(ns, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("ListParts after concurrent uploads = %v", ns)
	}
	v, err := st.CompleteMultipart(t.Context(), mp.UploadID)
	noErr(t, "CompleteMultipart", err)
	checkVersion(t, v, "k", data)
	wantContent(t, st, b.ID, "k", "", data)
}
