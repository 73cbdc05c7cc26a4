package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/bucketfs/bucketfs/storage"
)

// counters are cumulative and read by status and tests.
type counters struct {
	PayloadBytes atomic.Int64 // request body bytes of Put and UploadPart
	Puts         atomic.Int64
	Parts        atomic.Int64
	Completes    atomic.Int64
	Copies       atomic.Int64
	Deletes      atomic.Int64
	Adopted      atomic.Int64 // remote versions recognised as ours, no upload
}

// uploader sends one file's content: single Put or journaled multipart.
type uploader struct {
	store  storage.ObjectStore
	j      *journal
	opts   *Options
	budget *semaphore.Weighted
	cnt    *counters
}

type upReq struct {
	fid, rel    string // journal session key
	bucket, key string
	path        string
	stat        statTuple
	hash        string
	// lateHash, with hash "", asks multipart to hash the file while its
	// parts are sent and to store the hash here.
	lateHash *string
	data     []byte // snapshot of a small file; nil = read from path
	ifMatch  string
	attrs    map[string]string
	// progress is called with acknowledged payload bytes.
	progress func(n int64)
}

func (u *uploader) hook(p string) {
	if u.opts.Hook != nil {
		u.opts.Hook(p)
	}
}

func (u *uploader) acquire(ctx context.Context, n int64) (int64, error) {
	if n > u.opts.BytesInFlight {
		n = u.opts.BytesInFlight
	}
	if n < 1 {
		n = 1
	}
	return n, u.budget.Acquire(ctx, n)
}

// partSizeFor keeps within 9,500 parts (headroom under 10,000).
func (u *uploader) partSizeFor(size int64) int64 {
	ps := u.opts.PartSize
	const mib = 1 << 20
	if need := (size + 9499) / 9500; need > ps {
		ps = (need + mib - 1) / mib * mib
	}
	if ps > 5<<30 {
		ps = 5 << 30
	}
	return ps
}

func (u *uploader) multipartFor(size int64) bool {
	return size > u.opts.MultipartThreshold
}

// upload sends r's content as a new version of r.key.
func (u *uploader) upload(ctx context.Context, r upReq) (*storage.ObjectVersion, error) {
	if r.data != nil || !u.multipartFor(r.stat.Size) {
		return u.put(ctx, r)
	}
	return u.multipart(ctx, r)
}

// adoptHead returns the head of key if it already holds our content: the
// answer to "did my write land?" after a lost response or a conflict.
func (u *uploader) adoptHead(ctx context.Context, bucket, key, hash string, size int64) *storage.ObjectVersion {
	v, err := u.store.Stat(ctx, bucket, key, "")
	if err != nil || v.File == nil || v.File.Size != size || v.File.BLAKE3 == "" || v.File.BLAKE3 != hash {
		return nil
	}
	u.cnt.Adopted.Add(1)
	return v
}

func (u *uploader) put(ctx context.Context, r upReq) (*storage.ObjectVersion, error) {
	data := r.data
	if data == nil {
		n, err := u.acquire(ctx, r.stat.Size)
		if err != nil {
			return nil, err
		}
		defer u.budget.Release(n)
		if data, err = readSnapshot(r.path, r.stat); err != nil {
			return nil, err
		}
		if h := hashBytes(data); r.hash != "" && h != r.hash {
			return nil, ErrChanged
		} else {
			r.hash = h
		}
	}
	opts := storage.PutOptions{Size: int64(len(data)), IfMatch: r.ifMatch, Attrs: r.attrs}
	var v *storage.ObjectVersion
	unknown := false
	err := u.opts.retry(ctx, 4, func() error {
		if unknown {
			// The previous attempt may have landed; never stack a duplicate.
			if hv := u.adoptHead(ctx, r.bucket, r.key, r.hash, int64(len(data))); hv != nil {
				v = hv
				return nil
			}
		}
		var err error
		v, err = u.store.Put(ctx, r.bucket, r.key, bytes.NewReader(data), opts)
		if err != nil {
			unknown = u.opts.retryable(err)
			return err
		}
		u.cnt.Puts.Add(1)
		u.cnt.PayloadBytes.Add(int64(len(data)))
		if r.progress != nil {
			r.progress(int64(len(data)))
		}
		return nil
	})
	if errors.Is(err, storage.ErrConflict) {
		if hv := u.adoptHead(ctx, r.bucket, r.key, r.hash, int64(len(data))); hv != nil {
			return hv, nil
		}
	}
	if err == nil {
		u.hook("put-done")
	}
	return v, err
}

func (u *uploader) abort(ctx context.Context, s *session) {
	if err := u.store.AbortMultipart(ctx, s.UploadID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		u.log("abort upload", "upload", s.UploadID, "err", err)
	}
}

func (u *uploader) log(msg string, args ...any) {
	if u.opts.Logger != nil {
		u.opts.Logger.Warn(msg, args...)
	}
}

// resumeSession checks a journaled session against the server. It returns
// the version if the upload already completed, the parts the server holds,
// or s == nil when the session must start over.
func (u *uploader) resumeSession(ctx context.Context, r upReq, s *session) (*session, map[int]bool, *storage.ObjectVersion, error) {
	// A session journaled before its hash was known stands on the stat.
	if s.Key != r.key || s.Bucket != r.bucket || (s.Hash != "" && s.Hash != r.hash) || !stableStat(s.Stat, r.stat) {
		u.abort(ctx, s)
		return nil, nil, nil, u.j.delSession(r.fid, r.rel)
	}
	mp, err := u.store.GetMultipart(ctx, s.UploadID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if s.Completing {
			// Completed and already forgotten by the server: adopt by hash.
			if v := u.adoptHead(ctx, r.bucket, r.key, r.hash, r.stat.Size); v != nil {
				return s, nil, v, nil
			}
		}
		return nil, nil, nil, u.j.delSession(r.fid, r.rel)
	case err != nil:
		return nil, nil, nil, err
	case mp.Completed:
		if mp.VersionID != "" {
			v, err := u.store.Stat(ctx, r.bucket, r.key, mp.VersionID)
			if err == nil {
				u.cnt.Adopted.Add(1)
				return s, nil, v, nil
			}
		}
		if v := u.adoptHead(ctx, r.bucket, r.key, r.hash, r.stat.Size); v != nil {
			return s, nil, v, nil
		}
		return nil, nil, nil, u.j.delSession(r.fid, r.rel)
	}
	parts, err := u.store.ListParts(ctx, s.UploadID)
	if err != nil {
		return nil, nil, nil, err
	}
	done := map[int]bool{}
	for _, p := range parts {
		want := s.PartSize
		if end := int64(p.Number+1) * s.PartSize; end > s.Size {
			want = s.Size - int64(p.Number)*s.PartSize
		}
		if p.End-p.Start == want {
			done[p.Number] = true
		}
	}
	return s, done, nil, nil
}

// lateHashing starts hashing r's file beside the upload, or hashes it now
// when the hash is needed before a byte is sent: to resume a session or to
// recognise our own content in the head.
func (u *uploader) lateHashing(ctx context.Context, r *upReq, s *session) (<-chan hashResult, error) {
	if r.hash != "" || r.lateHash == nil {
		return nil, nil
	}
	need := s != nil
	if !need && r.ifMatch != "" {
		hv, err := u.store.Stat(ctx, r.bucket, r.key, "")
		need = err == nil && hv.File != nil && hv.File.Size == r.stat.Size
	}
	if need {
		h, err := hashFile(r.path, r.stat)
		if err != nil {
			return nil, err
		}
		r.hash, *r.lateHash = h, h
		return nil, nil
	}
	c := make(chan hashResult, 1)
	go func() {
		h, err := hashFile(r.path, r.stat)
		c <- hashResult{h, err}
	}()
	return c, nil
}

type hashResult struct {
	hash string
	err  error
}

func (u *uploader) multipart(ctx context.Context, r upReq) (*storage.ObjectVersion, error) {
	s, err := u.j.getSession(r.fid, r.rel)
	if err != nil {
		return nil, err
	}
	hashc, err := u.lateHashing(ctx, &r, s)
	if err != nil {
		return nil, err
	}
	if hashc != nil {
		// Never leave the hashing goroutine behind on an early return.
		defer func() {
			if hashc != nil {
				<-hashc
			}
		}()
	}
	var done map[int]bool
	if s != nil {
		var v *storage.ObjectVersion
		if s, done, v, err = u.resumeSession(ctx, r, s); err != nil {
			return nil, err
		}
		if v != nil {
			return v, u.j.delSession(r.fid, r.rel)
		}
	}
	if s == nil {
		// Probe the head before sending any byte: our content may already
		// be there (a lost journal), or the head moved (a conflict that
		// would otherwise only show at complete, after the whole upload).
		if r.ifMatch != "" {
			hv, err := u.store.Stat(ctx, r.bucket, r.key, "")
			switch {
			case err == nil && hv.File != nil && r.hash != "" && hv.File.BLAKE3 == r.hash && hv.File.Size == r.stat.Size:
				u.cnt.Adopted.Add(1)
				return hv, nil
			case err == nil && hv.VersionID != r.ifMatch:
				return nil, fmt.Errorf("%w: head of %s is %s, expected %s", storage.ErrConflict, r.key, hv.VersionID, r.ifMatch)
			case err != nil && !errors.Is(err, storage.ErrNotFound):
				return nil, err
			}
		}
		ps := u.partSizeFor(r.stat.Size)
		var mp *storage.Multipart
		err := u.opts.retry(ctx, 4, func() error {
			var err error
			mp, err = u.store.InitMultipart(ctx, r.bucket, r.key, r.stat.Size, ps,
				storage.PutOptions{Size: r.stat.Size, IfMatch: r.ifMatch, Attrs: r.attrs})
			return err
		})
		if err != nil {
			return nil, err
		}
		// A crash right here leaves an upload the journal does not know;
		// the startup sweep aborts it.
		s = &session{UploadID: mp.UploadID, Bucket: r.bucket, Key: r.key, Size: r.stat.Size,
			PartSize: mp.PartSize, Stat: r.stat, Hash: r.hash, Created: time.Now()}
		if s.PartSize == 0 {
			s.PartSize = ps
		}
		if err := u.j.putSession(r.fid, r.rel, s); err != nil {
			u.abort(ctx, s)
			return nil, err
		}
		u.hook("init")
		if hashc != nil {
			// Journal the hash once known, so a resume after a crash keeps
			// the parts already sent.
			in, out := hashc, make(chan hashResult, 1)
			hashc = out
			sc := *s
			go func() {
				h := <-in
				if h.err == nil {
					sc.Hash = h.hash
					if err := u.j.putSession(r.fid, r.rel, &sc); err != nil {
						h.err = err
					}
				}
				out <- h
			}()
		}
	}

	f, err := os.Open(r.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	changed := func() bool {
		fi, err := f.Stat()
		return err != nil || !stableStat(r.stat, tupleOf(fi))
	}
	// drop forgets the session; a hash still running is waited for first,
	// or its journaling of the hash could bring the session back.
	drop := func() {
		if hashc != nil {
			<-hashc
			hashc = nil
		}
		u.abort(ctx, s)
		_ = u.j.delSession(r.fid, r.rel)
	}
	if changed() {
		drop()
		return nil, ErrChanged
	}
	nparts := int((s.Size + s.PartSize - 1) / s.PartSize)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(u.opts.PartsInFlight)
	var hookMu sync.Mutex
	for i := 0; i < nparts; i++ {
		if done[i] {
			continue
		}
		off := int64(i) * s.PartSize
		size := min(s.PartSize, s.Size-off)
		n, err := u.acquire(gctx, size)
		if err != nil {
			break
		}
		g.Go(func() error {
			defer u.budget.Release(n)
			err := u.opts.retry(gctx, 6, func() error {
				if changed() {
					return fmt.Errorf("part %d: %w", i, ErrChanged)
				}
				_, err := u.store.UploadPart(gctx, s.UploadID, i, io.NewSectionReader(f, off, size), size)
				return err
			})
			if err != nil {
				return err
			}
			u.cnt.Parts.Add(1)
			u.cnt.PayloadBytes.Add(size)
			if r.progress != nil {
				r.progress(size)
			}
			hookMu.Lock()
			u.hook("part-acked")
			hookMu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if errors.Is(err, ErrChanged) {
			drop()
		}
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if hashc != nil {
		h := <-hashc
		hashc = nil
		if h.err != nil {
			if errors.Is(h.err, ErrChanged) {
				u.abort(ctx, s)
				_ = u.j.delSession(r.fid, r.rel)
			}
			return nil, h.err
		}
		r.hash, *r.lateHash = h.hash, h.hash
		s.Hash = h.hash
	}
	// The last chance to refuse a torn version: nothing moved since hashing.
	if changed() {
		u.abort(ctx, s)
		_ = u.j.delSession(r.fid, r.rel)
		return nil, ErrChanged
	}
	s.Completing = true
	if err := u.j.putSession(r.fid, r.rel, s); err != nil {
		return nil, err
	}
	u.hook("before-complete")
	v, err := u.store.CompleteMultipart(ctx, s.UploadID)
	if err != nil {
		// The outcome is unknown (or "already completed"): ask the server.
		mp, gerr := u.store.GetMultipart(ctx, s.UploadID)
		if gerr != nil || !mp.Completed || mp.VersionID == "" {
			if errors.Is(err, storage.ErrConflict) && gerr == nil && !mp.Completed {
				// The head moved during the upload: this session can
				// never complete.
				u.abort(ctx, s)
				_ = u.j.delSession(r.fid, r.rel)
			}
			return nil, err
		}
		if v, err = u.store.Stat(ctx, r.bucket, r.key, mp.VersionID); err != nil {
			return nil, err
		}
	} else {
		u.cnt.Completes.Add(1)
	}
	u.hook("after-complete")
	if v.File != nil && v.File.BLAKE3 != "" && v.File.BLAKE3 != r.hash {
		// Torn despite the checks (a write that kept size and mtime): take
		// the version back so it never stays head.
		_ = u.store.RemoveVersion(ctx, r.bucket, r.key, v.VersionID)
		_ = u.j.delSession(r.fid, r.rel)
		return nil, ErrChanged
	}
	return v, nil
}
