package fusefs

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"golang.org/x/sys/unix"
)

// BlockCacheOptions configure a BlockCache. Zero fields take the values of
// DefaultBlockCacheOptions.
type BlockCacheOptions struct {
	// Dir holds the cached blocks (created). Required.
	Dir string
	// MaxBytes bounds the bytes of blocks kept on disk; the least recently
	// used blocks are removed beyond it.
	MaxBytes int64
	// BlockSize is the unit of fetching and caching.
	BlockSize int64
	// ReadAhead is how many blocks past a sequential read are fetched in the
	// background.
	ReadAhead int
	// Timeout bounds a fetch without progress: a server that stops
	// answering makes the read fail with EIO after it instead of hanging.
	Timeout time.Duration
	// Fetchers bounds the background (read-ahead) fetches in flight; a
	// read that misses always fetches at once.
	Fetchers int
	// Logger receives fetch failures (nil = silent).
	Logger *slog.Logger
}

// DefaultBlockCacheOptions returns 1 MiB blocks, a 1 GiB bound, 8 blocks of
// read-ahead, a 30 s timeout and 4 background fetchers.
func DefaultBlockCacheOptions() BlockCacheOptions {
	return BlockCacheOptions{
		MaxBytes:  1 << 30,
		BlockSize: 1 << 20,
		ReadAhead: 8,
		Timeout:   30 * time.Second,
		Fetchers:  4,
	}
}

func (o *BlockCacheOptions) fill() {
	d := DefaultBlockCacheOptions()
	if o.BlockSize <= 0 {
		o.BlockSize = d.BlockSize
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = d.MaxBytes
	}
	if o.ReadAhead < 0 {
		o.ReadAhead = 0
	}
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.Fetchers <= 0 {
		o.Fetchers = d.Fetchers
	}
	// A block being handed to its reader must not be evicted by the
	// read-ahead that follows it.
	if floor := o.BlockSize * int64(2*o.ReadAhead+4); o.MaxBytes < floor {
		o.MaxBytes = floor
	}
}

// BlockCache is a bounded on-disk cache of fixed-size blocks of remote
// object versions, read with HTTP ranges (ObjectStore.Get with an offset
// and a length). Blocks are named by content (the version's BLAKE3, or its
// version id when the server has no BLAKE3) and block index, so a block
// never serves bytes of another version. Each block file is written to a
// temporary name and renamed into place, and carries a CRC-32C trailer that
// is checked the first time the block is used after a start, so a crash
// never leaves a torn block that is served later. Concurrent readers of a
// block share one fetch; a failed fetch fails the reads waiting for it
// (EIO) and caches nothing. It is safe for concurrent use.
type BlockCache struct {
	o   BlockCacheOptions
	log *slog.Logger
	bg  chan struct{} // background fetch slots

	mu      sync.Mutex
	ents    map[string]*list.Element // name -> *cacheEnt
	lru     *list.List               // front = most recently used
	used    int64
	flights map[string]*blockFlight
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	hits, misses, fetches, fetchedBytes atomic.Int64

	open *openBlocks // recently read block files, kept open
}

type cacheEnt struct {
	name       string
	size       int64 // bytes on disk, trailer included
	verified   bool  // the trailer was checked since this process started
	prefetched bool  // read into the page cache ahead of a sequential reader
}

// blockFlight is one block being fetched; done closes when err is set or
// the block is in the cache.
type blockFlight struct {
	done chan struct{}
	err  error
}

// BlockCacheStats are cumulative counters of a BlockCache.
type BlockCacheStats struct {
	Hits, Misses, Fetches, FetchedBytes int64
	UsedBytes                           int64
	Blocks                              int
}

const blockTrailer = 8 // CRC-32C + magic

var (
	blockBufs  = sync.Pool{New: func() any { return new([]byte) }}
	blockMagic = [4]byte{'b', 'f', 'c', '1'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// NewBlockCache opens (creating) the cache in o.Dir, indexing the blocks a
// previous run left there (oldest first by modification time) and removing
// unfinished temporary files.
func NewBlockCache(o BlockCacheOptions) (*BlockCache, error) {
	o.fill()
	if o.Dir == "" {
		return nil, errors.New("block cache: no directory")
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("block cache: %w", err)
	}
	c := &BlockCache{o: o, log: o.Logger, bg: make(chan struct{}, o.Fetchers),
		ents: map[string]*list.Element{}, lru: list.New(), flights: map[string]*blockFlight{},
		open: newOpenBlocks(64)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load indexes the blocks on disk.
func (c *BlockCache) load() error {
	tmp := filepath.Join(c.o.Dir, "tmp")
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			os.Remove(filepath.Join(tmp, e.Name()))
		}
	}
	type found struct {
		name  string
		size  int64
		mtime time.Time
	}
	// A cache closed cleanly synced its blocks before writing the marker:
	// they need no check. The marker goes before anything is served, so a
	// crash of this run leaves a cache whose blocks are checked again.
	marker := filepath.Join(c.o.Dir, cleanMarker)
	trusted := os.Remove(marker) == nil
	if trusted {
		syncDir(c.o.Dir)
	}
	var all []found
	err := filepath.WalkDir(c.o.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a vanished entry is no reason to refuse the cache
		}
		if d.IsDir() {
			if p == tmp {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Dir(p) == c.o.Dir {
			return nil // blocks live in the fan-out directories
		}
		fi, err := d.Info()
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		all = append(all, found{d.Name(), fi.Size(), fi.ModTime()})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mtime.After(all[j].mtime) })
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range all {
		if _, ok := c.ents[f.name]; ok {
			continue
		}
		c.ents[f.name] = c.lru.PushBack(&cacheEnt{name: f.name, size: f.size, verified: trusted})
		c.used += f.size
	}
	c.evictLocked("")
	return nil
}

// cleanMarker in the cache directory says the blocks were synced by a
// clean Close.
const cleanMarker = "clean"

// Close stops background fetches and syncs the cache, so the next start
// can trust its blocks without reading each one. Blocks stay on disk.
func (c *BlockCache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.open.closeAll()
	f, err := os.Open(c.o.Dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(f.Fd()))
	f.Close()
	if err != nil {
		return fmt.Errorf("block cache: sync: %w", err)
	}
	m, err := os.Create(filepath.Join(c.o.Dir, cleanMarker))
	if err != nil {
		return err
	}
	err = m.Sync()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	syncDir(c.o.Dir)
	return err
}

// syncDir makes the creation or removal of names in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Stats returns the cache's counters.
func (c *BlockCache) Stats() BlockCacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return BlockCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Fetches: c.fetches.Load(),
		FetchedBytes: c.fetchedBytes.Load(), UsedBytes: c.used, Blocks: len(c.ents)}
}

// path is where block name lives: a two-character fan-out keeps
// directories small.
func (c *BlockCache) path(name string) string {
	return filepath.Join(c.o.Dir, name[:2], name)
}

// contentID names a version's bytes: its BLAKE3 when known, else a hash of
// its version id (version ids are never reused).
func contentID(v *storage.ObjectVersion) string {
	if v.File != nil {
		if h, ok := strings.CutPrefix(v.File.BLAKE3, "blake3:"); ok && len(h) == 64 && isHex(h) {
			return h
		}
	}
	sum := sha256.Sum256([]byte("version\x00" + v.BucketID + "\x00" + v.VersionID))
	return "v" + hex.EncodeToString(sum[:20])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("0123456789abcdef", rune(s[i])) {
			return false
		}
	}
	return true
}

// blockName is the file name of block idx of a content: the block size is
// part of it so a cache reused with another block size never mixes them.
func (c *BlockCache) blockName(id string, idx int64) string {
	return id + "." + strconv.FormatInt(c.o.BlockSize>>10, 10) + "k." + strconv.FormatInt(idx, 10)
}

// source is the version a reader fetches blocks of.
type blockSource struct {
	store   storage.ObjectStore
	bucket  string
	key     string
	version string
	id      string
	size    int64
}

func (s *blockSource) blocks(bs int64) int64 { return (s.size + bs - 1) / bs }

// blockLen is the length of block idx (the last one is short).
func (c *BlockCache) blockLen(s *blockSource, idx int64) int64 {
	return min(c.o.BlockSize, s.size-idx*c.o.BlockSize)
}

// openBlock returns block idx of s, open for reading, fetching it (and,
// when run > 1, the blocks after it in the same request) on a miss.
// The caller releases the block with c.open.release.
func (c *BlockCache) openBlock(s *blockSource, idx int64, run int) (*openBlock, error) {
	name := c.blockName(s.id, idx)
	want := c.blockLen(s, idx) + blockTrailer
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if el, ok := c.ents[name]; ok {
			c.lru.MoveToFront(el)
			e := el.Value.(*cacheEnt)
			verified := e.verified
			c.mu.Unlock()
			if b := c.open.get(name); b != nil {
				if attempt == 0 {
					c.hits.Add(1)
				}
				return b, nil
			}
			f, err := c.openVerified(name, want, verified)
			if err == nil {
				if attempt == 0 {
					c.hits.Add(1)
				}
				return c.open.add(name, f), nil
			}
			c.open.forget(name)
			c.log.Warn("block cache: dropping a bad block", "block", name, "err", err)
			c.mu.Lock()
			if el2, ok := c.ents[name]; ok && el2 == el {
				c.removeLocked(el)
			}
			c.mu.Unlock()
			continue
		}
		if c.closed {
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: block cache closed", syscall.EIO)
		}
		if attempt > 3 {
			// Evicted again as soon as it arrived: a cache far too small.
			c.mu.Unlock()
			return nil, fmt.Errorf("%w: block cache too small to hold block %d of %q", syscall.EIO, idx, s.key)
		}
		fl := c.flights[name]
		if fl == nil {
			c.misses.Add(1)
			fl = c.startRunLocked(s, idx, run, false)
		}
		c.mu.Unlock()
		if err := c.wait(fl); err != nil {
			return nil, err
		}
	}
}

// wait waits for a flight, at most the timeout (the fetch has its own
// timeout; this one also covers a fetch queued behind others).
func (c *BlockCache) wait(fl *blockFlight) error {
	t := time.NewTimer(c.o.Timeout + time.Second)
	defer t.Stop()
	select {
	case <-fl.done:
		return fl.err
	case <-t.C:
		return fmt.Errorf("%w: no answer from the server within %v", syscall.EIO, c.o.Timeout)
	}
}

// openVerified opens a cached block, checking its size and, once per
// process, its CRC trailer.
func (c *BlockCache) openVerified(name string, want int64, verified bool) (*os.File, error) {
	f, err := os.Open(c.path(name))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != want {
		err = fmt.Errorf("size %d, want %d", fi.Size(), want)
	}
	if err == nil && !verified {
		err = checkBlock(f, want-blockTrailer)
		if err == nil {
			c.mu.Lock()
			if el, ok := c.ents[name]; ok {
				el.Value.(*cacheEnt).verified = true
			}
			c.mu.Unlock()
		}
	}
	if err != nil {
		f.Close()
		os.Remove(c.path(name))
		return nil, err
	}
	return f, nil
}

// checkBlock verifies the CRC-32C trailer of a block file of n data bytes.
func checkBlock(f *os.File, n int64) error {
	bp := blockBufs.Get().(*[]byte)
	defer blockBufs.Put(bp)
	if int64(cap(*bp)) < n+blockTrailer {
		*bp = make([]byte, n+blockTrailer)
	}
	buf := (*bp)[:n+blockTrailer]
	if _, err := f.ReadAt(buf, 0); err != nil {
		return err
	}
	tr := buf[n:]
	if [4]byte(tr[4:]) != blockMagic || binary.LittleEndian.Uint32(tr[:4]) != crc32.Checksum(buf[:n], castagnoli) {
		return errors.New("checksum mismatch")
	}
	return nil
}

// readAhead makes sure the blocks after idx are cached or on their way,
// in one background request for the missing ones. It starts nothing while
// at least half of the window is covered, so requests stay large.
func (c *BlockCache) readAhead(s *blockSource, idx int64) {
	ra := int64(c.o.ReadAhead)
	last := min(idx+ra, s.blocks(c.o.BlockSize)-1)
	if ra == 0 || idx >= last {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	first := int64(-1)
	var warm []*cacheEnt
	for i := idx + 1; i <= last; i++ {
		name := c.blockName(s.id, i)
		if el, ok := c.ents[name]; ok {
			if e := el.Value.(*cacheEnt); !e.prefetched {
				warm = append(warm, e)
			}
			continue
		}
		if _, ok := c.flights[name]; ok {
			continue
		}
		first = i
		break
	}
	c.prefetchLocked(warm)
	if first < 0 || (first-idx-1)*2 >= ra && last-idx == ra {
		return
	}
	select {
	case c.bg <- struct{}{}:
	default:
		return // every background slot is busy: the reader will fetch itself
	}
	c.startRunLocked(s, first, int(last-first+1), true)
}

// prefetchLocked reads cached blocks ahead of a sequential reader in the
// background, so a reader of a cache whose files left the page cache does
// not wait for the disk once per block: a block not yet verified in this
// process is verified (which reads it), a verified one is announced with
// POSIX_FADV_WILLNEED. It uses a background slot, or does nothing.
func (c *BlockCache) prefetchLocked(es []*cacheEnt) {
	if len(es) == 0 {
		return
	}
	select {
	case c.bg <- struct{}{}:
	default:
		return
	}
	type job struct {
		name     string
		size     int64
		verified bool
	}
	jobs := make([]job, len(es))
	for i, e := range es {
		e.prefetched = true
		jobs[i] = job{e.name, e.size, e.verified}
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.bg }()
		for _, j := range jobs {
			if c.ctx.Err() != nil {
				return
			}
			if !j.verified {
				if f, err := c.openVerified(j.name, j.size, false); err == nil {
					f.Close()
				}
				continue
			}
			if f, err := os.Open(c.path(j.name)); err == nil {
				_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_WILLNEED)
				f.Close()
			}
		}
	}()
}

// startRunLocked registers flights for block first and the following
// blocks (up to n, stopping at one that is cached or in flight) and fetches
// them with one ranged request. A background run holds a slot of c.bg.
func (c *BlockCache) startRunLocked(s *blockSource, first int64, n int, background bool) *blockFlight {
	var names []string
	var fls []*blockFlight
	nb := s.blocks(c.o.BlockSize)
	for i := first; i < first+int64(max(n, 1)) && i < nb; i++ {
		name := c.blockName(s.id, i)
		if i > first {
			if _, ok := c.ents[name]; ok {
				break
			}
			if _, ok := c.flights[name]; ok {
				break
			}
		}
		fl := &blockFlight{done: make(chan struct{})}
		c.flights[name] = fl
		names = append(names, name)
		fls = append(fls, fl)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if background {
			defer func() { <-c.bg }()
		}
		c.fetchRun(s, first, names, fls)
	}()
	return fls[0]
}

// fetchRun fetches consecutive blocks starting at first with one ranged
// Get, storing each as it completes. A stall longer than the timeout
// cancels the request; blocks not complete by then fail and are not cached.
func (c *BlockCache) fetchRun(s *blockSource, first int64, names []string, fls []*blockFlight) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	timer := time.AfterFunc(c.o.Timeout, cancel)
	defer timer.Stop()
	off := first * c.o.BlockSize
	end := min(s.size, (first+int64(len(names)))*c.o.BlockSize)
	c.fetches.Add(1)
	rc, _, err := s.store.Get(storage.WithOrigin(ctx, storage.Origin{Kind: "mount"}), s.bucket, s.key, s.version, off, end-off)
	i := 0
	if err == nil {
		for ; i < len(names); i++ {
			if err = c.storeBlock(rc, names[i], c.blockLen(s, first+int64(i))); err != nil {
				break
			}
			timer.Reset(c.o.Timeout)
			c.finish(names[i], fls[i], nil)
		}
		rc.Close()
	}
	if i < len(names) {
		if ctx.Err() != nil && c.ctx.Err() == nil {
			err = fmt.Errorf("no progress for %v: %w", c.o.Timeout, err)
		}
		err = fetchError(s, first+int64(i), err)
		c.log.Warn("block cache: fetch failed", "bucket", s.bucket, "key", s.key, "block", first+int64(i), "err", err)
		for ; i < len(names); i++ {
			c.finish(names[i], fls[i], err)
		}
	}
}

// fetchError keeps the errors that say something about the object (gone,
// not allowed) and turns every other failure (server gone, timeout, reset)
// into EIO.
func fetchError(s *blockSource, idx int64, err error) error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrPermission) {
		return err
	}
	return fmt.Errorf("%w: read %s/%s block %d: %v", syscall.EIO, s.bucket, s.key, idx, err)
}

// storeBlock copies the next n bytes of r into block name: a temporary
// file with a CRC trailer, renamed into place once complete.
func (c *BlockCache) storeBlock(r io.Reader, name string, n int64) error {
	tmp, err := os.CreateTemp(filepath.Join(c.o.Dir, "tmp"), name+".*")
	if err != nil {
		return err
	}
	// The whole block in one buffer: one write, one CRC pass, no 32 KiB
	// copy loop.
	bp := blockBufs.Get().(*[]byte)
	defer blockBufs.Put(bp)
	if int64(cap(*bp)) < n+blockTrailer {
		*bp = make([]byte, n+blockTrailer)
	}
	buf := (*bp)[:n+blockTrailer]
	k, err := io.ReadFull(r, buf[:n])
	c.fetchedBytes.Add(int64(k))
	if err == nil {
		binary.LittleEndian.PutUint32(buf[n:], crc32.Checksum(buf[:n], castagnoli))
		copy(buf[n+4:], blockMagic[:])
		_, err = tmp.Write(buf)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		dst := c.path(name)
		if err = os.Rename(tmp.Name(), dst); errors.Is(err, fs.ErrNotExist) {
			if err = os.MkdirAll(filepath.Dir(dst), 0o700); err == nil {
				err = os.Rename(tmp.Name(), dst)
			}
		}
	}
	if err != nil {
		os.Remove(tmp.Name())
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	c.mu.Lock()
	if el, ok := c.ents[name]; ok {
		c.removeIndexLocked(el)
	}
	c.ents[name] = c.lru.PushFront(&cacheEnt{name: name, size: n + blockTrailer, verified: true})
	c.used += n + blockTrailer
	c.evictLocked(name)
	c.mu.Unlock()
	return nil
}

// finish ends a block's flight.
func (c *BlockCache) finish(name string, fl *blockFlight, err error) {
	c.mu.Lock()
	if c.flights[name] == fl {
		delete(c.flights, name)
	}
	c.mu.Unlock()
	fl.err = err
	close(fl.done)
}

// evictLocked removes least recently used blocks beyond the bound, never
// keep (the block just stored, about to be read).
func (c *BlockCache) evictLocked(keep string) {
	for c.used > c.o.MaxBytes {
		el := c.lru.Back()
		if el == nil {
			return
		}
		if el.Value.(*cacheEnt).name == keep {
			if el.Prev() == nil {
				return
			}
			el = el.Prev()
		}
		c.removeLocked(el)
	}
}

// removeLocked drops a block from the index and the disk. Readers that
// have it open keep reading it (POSIX unlink semantics).
func (c *BlockCache) removeLocked(el *list.Element) {
	e := c.removeIndexLocked(el)
	os.Remove(c.path(e.name))
}

func (c *BlockCache) removeIndexLocked(el *list.Element) *cacheEnt {
	e := el.Value.(*cacheEnt)
	c.lru.Remove(el)
	delete(c.ents, e.name)
	c.used -= e.size
	return e
}
