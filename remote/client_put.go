package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"golang.org/x/sync/errgroup"
)

// putHeaders sets the headers of a new version's options: Invenio's tags
// header and our attrs and mimetype extensions.
func putHeaders(r *request, opts storage.PutOptions) {
	if s := encodeTags(opts.Tags); s != "" {
		r.header.Set("X-Invenio-File-Tags", s)
	}
	if s := encodeTags(opts.Attrs); s != "" {
		r.header.Set("X-Bucketfs-Attrs", s)
	}
	if opts.Mimetype != "" {
		r.header.Set("X-Bucketfs-Mimetype", opts.Mimetype)
	}
}

// Put streams r into a new head version of key. A known size is sent as
// Content-Length (Invenio requires it); an unknown one is measured by
// seeking, or by spooling the body (to memory up to SpoolMemory, then to a
// temporary file). Objects over MultipartThreshold go up in parts, read
// concurrently from r when it is an io.ReaderAt. Nothing is buffered whole
// in memory.
func (c *Client) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectVersion, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if r == nil {
		r = bytes.NewReader(nil)
	}
	size := opts.Size
	if size < 0 {
		var cleanup func()
		var err error
		r, size, cleanup, err = c.measure(r)
		if err != nil {
			return nil, err
		}
		defer cleanup()
		opts.Size = size
	}
	if size > c.opts.MultipartThreshold {
		return c.putMultipart(ctx, bucket, key, r, size, opts)
	}
	return c.putSingle(ctx, bucket, key, r, size, opts)
}

// putSingle is one PUT /files/{b}/{k} of exactly size bytes.
func (c *Client) putSingle(ctx context.Context, bucket, key string, r io.Reader, size int64, opts storage.PutOptions) (*storage.ObjectVersion, error) {
	var q map[string][]string
	if size == 0 {
		// An empty body is sent without reading r; a byte there means the
		// caller announced the wrong size.
		var one [1]byte
		if n, _ := io.ReadFull(r, one[:]); n > 0 {
			return nil, fmt.Errorf("%w: %w", storage.ErrInvalid, errLongBody)
		}
		// Invenio refuses empty uploads; our server creates one when asked.
		q = query("allowEmpty", "")
	}
	req := newRequest(http.MethodPut, c.filesURL(bucket, key, q))
	req.header.Set("Content-Type", "application/octet-stream")
	putHeaders(req, opts)
	ifMatch(req, opts.IfMatch)
	req.size = size
	// One byte more than announced is read, so that exactReader can tell
	// a longer body from a complete one.
	body := rewindable(r, size+1)
	defer consumeAt(r, size)()
	req.body = func() (io.Reader, error) {
		b, err := body()
		if err != nil {
			return nil, err
		}
		return &exactReader{r: b, left: size}, nil
	}
	return c.objectCall(ctx, req)
}

// errLongBody: the reader holds more bytes than the announced size.
var errLongBody = errors.New("content longer than announced size")

// exactReader passes exactly left bytes and refuses to deliver the last of
// them when the source has more: the server then sees a short body and
// stores nothing, instead of a silently truncated object.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(e.r, one[:]); n > 0 {
			return 0, fmt.Errorf("%w: %w", storage.ErrInvalid, errLongBody)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left == 0 && n > 0 {
		var one [1]byte
		if m, _ := io.ReadFull(e.r, one[:]); m > 0 {
			return 0, fmt.Errorf("%w: %w", storage.ErrInvalid, errLongBody)
		}
		if err == nil {
			err = io.EOF
		}
	}
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: %d bytes missing", errShortBodySent, e.left)
	}
	return n, err
}

// measure finds the size of a body of unknown size: by seeking when r is a
// seekable file-like reader, otherwise by spooling it.
func (c *Client) measure(r io.Reader) (io.Reader, int64, func(), error) {
	noop := func() {}
	if s, ok := r.(io.Seeker); ok {
		if cur, err := s.Seek(0, io.SeekCurrent); err == nil {
			if end, err := s.Seek(0, io.SeekEnd); err == nil {
				if _, err := s.Seek(cur, io.SeekStart); err == nil {
					return r, end - cur, noop, nil
				}
			}
		}
	}
	buf := make([]byte, 0, min(c.opts.SpoolMemory, 64<<10))
	lr := &io.LimitedReader{R: r, N: c.opts.SpoolMemory + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, noop, fmt.Errorf("reading upload body: %w", err)
		}
	}
	if int64(len(buf)) <= c.opts.SpoolMemory {
		return bytes.NewReader(buf), int64(len(buf)), noop, nil
	}
	// Larger than the memory allowance: a temporary file keeps memory flat.
	f, err := os.CreateTemp(c.opts.SpoolDir, "bucketfs-put-*")
	if err != nil {
		return nil, 0, noop, fmt.Errorf("spooling upload body: %w", err)
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n1, err := f.Write(buf)
	if err == nil {
		var n2 int64
		n2, err = io.Copy(f, r)
		if err == nil {
			return io.NewSectionReader(f, 0, int64(n1)+n2), int64(n1) + n2, cleanup, nil
		}
	}
	cleanup()
	return nil, 0, noop, fmt.Errorf("spooling upload body: %w", err)
}

// choosePartSize picks the part size of a multipart Put: the preferred size,
// grown so that there are at most ~9500 parts (headroom under 10000), and
// nudged so that it does not divide size (spec §8.3: an Invenio server
// cannot complete an upload whose size is an exact multiple).
func choosePartSize(size, preferred int64) int64 {
	p := max(preferred, minPartSize)
	if need := (size + 9499) / 9500; p < need {
		p = (need + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB, as rclone does
	}
	p = min(p, maxPartSize)
	for size%p == 0 {
		if p < maxPartSize {
			p++
		} else {
			p--
		}
	}
	return p
}

// putMultipart uploads size bytes of r in parts and completes the upload;
// any failure aborts it, so no orphan keeps its quota reservation.
func (c *Client) putMultipart(ctx context.Context, bucket, key string, r io.Reader, size int64, opts storage.PutOptions) (v *storage.ObjectVersion, err error) {
	partSize := choosePartSize(size, c.opts.PartSize)
	m, err := c.InitMultipart(ctx, bucket, key, size, partSize, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if aerr := c.AbortMultipart(actx, m.UploadID); aerr != nil {
				c.log.Warn("remote: abort of failed upload", "upload", m.UploadID, "err", aerr)
			}
			cancel()
		}
	}()
	parts := int((size + partSize - 1) / partSize)
	partLen := func(n int) int64 { return min(partSize, size-int64(n)*partSize) }

	if ra, ok := r.(io.ReaderAt); ok {
		defer consumeAt(r, size)()
		var base int64
		if s, ok := r.(io.Seeker); ok {
			if p, err := s.Seek(0, io.SeekCurrent); err == nil {
				base = p
			}
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(c.opts.PartConcurrency)
		for n := 0; n < parts; n++ {
			g.Go(func() error {
				sr := io.NewSectionReader(ra, base+int64(n)*partSize, partLen(n))
				_, err := c.UploadPart(gctx, m.UploadID, n, sr, partLen(n))
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		// A reader shorter than announced shows up as a short part above;
		// a longer one here.
		var one [1]byte
		if k, _ := ra.ReadAt(one[:], base+size); k > 0 {
			return nil, fmt.Errorf("%w: %w", storage.ErrInvalid, errLongBody)
		}
	} else {
		// A plain stream: one part at a time through one reused buffer,
		// so a failed part can be sent again.
		buf := partBuffers.get(partSize)
		defer partBuffers.put(buf)
		for n := 0; n < parts; n++ {
			b := buf[:partLen(n)]
			if k, err := io.ReadFull(r, b); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("%w: part %d has %d of %d bytes", storage.ErrShortBody, n, k, len(b))
				}
				return nil, fmt.Errorf("reading upload body: %w", err)
			}
			if _, err := c.UploadPart(ctx, m.UploadID, n, bytes.NewReader(b), int64(len(b))); err != nil {
				return nil, err
			}
		}
		var one [1]byte
		if k, _ := io.ReadFull(r, one[:]); k > 0 {
			return nil, fmt.Errorf("%w: %w", storage.ErrInvalid, errLongBody)
		}
	}
	return c.CompleteMultipart(ctx, m.UploadID)
}

// partBuffers recycles part buffers between sequential multipart Puts.
var partBuffers bufPool

type bufPool struct {
	mu   sync.Mutex
	free [][]byte
}

func (p *bufPool) get(n int64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.free {
		if int64(cap(b)) >= n {
			p.free = append(p.free[:i], p.free[i+1:]...)
			return b[:n]
		}
	}
	return make([]byte, n)
}

func (p *bufPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < 2 {
		p.free = append(p.free, b)
	}
}
