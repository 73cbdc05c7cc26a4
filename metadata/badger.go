package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// BadgerOptions tune the on-disk index. The defaults keep memory modest
// (a mount must stay well under 150 MB RSS) while still batching concurrent
// synced commits (badger's write loop is our group commit).
type BadgerOptions struct {
	// SyncWrites makes every committed Update durable before it returns.
	SyncWrites bool
	// MemTableSize is the size of each memtable in bytes.
	MemTableSize int64
	// NumMemtables is how many memtables may be held in memory.
	NumMemtables int
	// BlockCacheSize and IndexCacheSize bound badger's caches (bytes).
	BlockCacheSize int64
	IndexCacheSize int64
	// ValueLogFileSize is the size of each value log file in bytes.
	ValueLogFileSize int64
	// ValueThreshold: values at least this large go to the value log
	// instead of the LSM tree (0 = badger's default).
	ValueThreshold int64
	// ReadOnly opens the index without writing (e.g. an fsck report).
	ReadOnly bool
	// Logger receives badger's log lines (nil = silent).
	Logger *slog.Logger
}

// DefaultBadgerOptions returns durable, memory-modest settings.
func DefaultBadgerOptions() BadgerOptions {
	return BadgerOptions{
		SyncWrites:       true,
		MemTableSize:     8 << 20,
		NumMemtables:     2,
		BlockCacheSize:   8 << 20,
		IndexCacheSize:   8 << 20,
		ValueLogFileSize: 128 << 20,
		// Records stay in the LSM tree; inline file bytes of 4 KiB and more
		// go to the value log: written once (no compaction rewrites) and
		// counted as pointers against the transaction size limit. Their
		// space comes back through ValueLogGC.
		ValueThreshold: 4 << 10,
	}
}

// ValueLogGCer is the optional ability of a DB to reclaim value-log space.
type ValueLogGCer interface {
	// ValueLogGC rewrites value-log files until no more space can be won.
	ValueLogGC(discardRatio float64) error
}

// badgerDB opens badger without SyncWrites even when durable commits are
// asked for, and syncs after each Update itself (syncEach): that keeps
// Update durable for every user of the DB while letting the object store
// commit without waiting (UpdateNoSync) and sync a whole batch once.
type badgerDB struct {
	db       *badger.DB
	dir      string
	syncEach bool
	readOnly bool
	logs     logFiles
}

var (
	_ DB           = (*badgerDB)(nil)
	_ ValueLogGCer = (*badgerDB)(nil)
	_ Syncer       = (*badgerDB)(nil)
)

// OpenBadger opens (creating if needed) a badger index in dir.
func OpenBadger(dir string, o BadgerOptions) (DB, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(false).
		WithNumCompactors(2).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithReadOnly(o.ReadOnly).
		WithLogger(badgerLogger{o.Logger})
	if o.MemTableSize > 0 {
		opts = opts.WithMemTableSize(o.MemTableSize)
	}
	// Table builders allocate twice the target table size up front and
	// badger pools up to 8 of them; with growing table sizes per level that
	// reached hundreds of MB. Small tables of one size keep it to a few MB.
	// Without compression a table's size bounds its builder's memory; with
	// it, very compressible values (text files stored inline) made builders
	// hold a hundred times the table size.
	opts = opts.WithBaseTableSize(2 << 20).WithBaseLevelSize(8 << 20).WithCompression(options.None)
	opts.TableSizeMultiplier = 1
	if o.NumMemtables > 0 {
		opts = opts.WithNumMemtables(o.NumMemtables)
	}
	if o.BlockCacheSize > 0 {
		opts = opts.WithBlockCacheSize(o.BlockCacheSize)
	}
	if o.IndexCacheSize > 0 {
		opts = opts.WithIndexCacheSize(o.IndexCacheSize)
	}
	if o.ValueThreshold > 0 {
		opts = opts.WithValueThreshold(o.ValueThreshold)
	}
	if o.ValueLogFileSize > 0 {
		opts = opts.WithValueLogFileSize(o.ValueLogFileSize)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("metadata: open badger in %s: %w", dir, err)
	}
	return &badgerDB{db: db, dir: dir, syncEach: o.SyncWrites && !o.ReadOnly, readOnly: o.ReadOnly}, nil
}

func (b *badgerDB) View(fn func(tx Tx) error) error {
	return mapBadgerErr(b.db.View(func(txn *badger.Txn) error { return fn(badgerTx{txn}) }))
}

func (b *badgerDB) Update(fn func(tx Tx) error) error {
	if err := b.UpdateNoSync(fn); err != nil || !b.syncEach {
		return err
	}
	return b.Sync()
}

// UpdateNoSync commits into badger's memory-mapped write-ahead log and
// value log: the bytes are in the page cache when it returns.
func (b *badgerDB) UpdateNoSync(fn func(tx Tx) error) error {
	return mapBadgerErr(b.db.Update(func(txn *badger.Txn) error { return fn(badgerTx{txn}) }))
}

// Sync makes every earlier commit durable: it fdatasyncs the logs badger
// wrote them to, the write-ahead log of every memtable still on disk and
// the current value-log file, concurrently. badger's own Sync would msync
// the same two current files one after the other, and would miss a
// memtable rotated since the commit (its log stays unsynced until the
// memtable is flushed into a synced table). A rotated value-log file was
// synced by badger when it was rotated.
func (b *badgerDB) Sync() error {
	if b.readOnly {
		return nil
	}
	b.logs.mu.Lock()
	defer b.logs.mu.Unlock()
	files, err := b.logs.refresh(b.dir)
	if err != nil {
		return fmt.Errorf("metadata: sync: %w", err)
	}
	if len(files) == 0 {
		return nil
	}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files[1:] {
		wg.Go(func() { errs[i+1] = unix.Fdatasync(int(f.Fd())) })
	}
	errs[0] = unix.Fdatasync(int(files[0].Fd()))
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metadata: sync: %w", err)
	}
	b.logs.dropRemoved()
	return nil
}

// logFiles are the open log files of a badger directory that Sync covers.
type logFiles struct {
	mu      sync.Mutex
	scanned bool
	mems    map[int64]*os.File // memtable logs by file id
	maxMem  int64
	vlog    *os.File // the newest value-log file
	vlogFid int64
}

// refresh opens the log files created since the last call and returns the
// files to sync, the newest value log first. badger numbers both kinds of
// files consecutively, so after one directory scan probing the next number
// finds new ones without listing the directory each time.
func (l *logFiles) refresh(dir string) ([]*os.File, error) {
	if !l.scanned {
		l.mems = map[int64]*os.File{}
		l.maxMem, l.vlogFid = -1, -1
		d, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if fid, ok := logFid(n, ".mem"); ok {
				if err := l.openMem(dir, fid); err != nil {
					return nil, err
				}
			} else if fid, ok := logFid(n, ".vlog"); ok && fid > l.vlogFid {
				l.vlogFid = fid
			}
		}
		if l.vlogFid >= 0 {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%06d.vlog", l.vlogFid)), os.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			l.vlog = f
		}
		l.scanned = true
	}
	for {
		err := l.openMem(dir, l.maxMem+1)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	for {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%06d.vlog", l.vlogFid+1)), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, err
		}
		if l.vlog != nil {
			// badger synced it when it rotated; once more costs nothing.
			err := unix.Fdatasync(int(l.vlog.Fd()))
			l.vlog.Close()
			if err != nil {
				f.Close()
				return nil, err
			}
		}
		l.vlog, l.vlogFid = f, l.vlogFid+1
	}
	files := make([]*os.File, 0, len(l.mems)+1)
	if l.vlog != nil {
		files = append(files, l.vlog)
	}
	for _, f := range l.mems {
		files = append(files, f)
	}
	return files, nil
}

func (l *logFiles) openMem(dir string, fid int64) error {
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%05d.mem", fid)), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	l.mems[fid] = f
	l.maxMem = max(l.maxMem, fid)
	return nil
}

// dropRemoved closes the logs of memtables badger has flushed and deleted.
func (l *logFiles) dropRemoved() {
	for fid, f := range l.mems {
		if fid == l.maxMem {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err == nil && st.Nlink == 0 {
			f.Close()
			delete(l.mems, fid)
		}
	}
}

func (l *logFiles) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.mems {
		f.Close()
	}
	if l.vlog != nil {
		l.vlog.Close()
	}
	l.mems, l.vlog, l.scanned = nil, nil, false
}

func logFid(name, ext string) (int64, bool) {
	num, ok := strings.CutSuffix(name, ext)
	if !ok {
		return 0, false
	}
	fid, err := strconv.ParseInt(num, 10, 64)
	return fid, err == nil
}

func (b *badgerDB) Close() error {
	var err error
	if b.syncEach {
		err = b.Sync()
	}
	b.logs.close()
	return errors.Join(err, b.db.Close())
}

// ValueLogGC runs badger's value-log GC until it finds nothing to rewrite.
func (b *badgerDB) ValueLogGC(discardRatio float64) error {
	for {
		err := b.db.RunValueLogGC(discardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("metadata: value log gc: %w", err)
		}
	}
}

func mapBadgerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrConflict):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, badger.ErrTxnTooBig):
		return fmt.Errorf("%w: %v", ErrTxnTooBig, err)
	case errors.Is(err, badger.ErrKeyNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}

type badgerTx struct{ txn *badger.Txn }

func (t badgerTx) Get(key []byte) ([]byte, error) {
	item, err := t.txn.Get(key)
	if err != nil {
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (t badgerTx) Set(key, value []byte) error {
	// badger keeps the slices until commit; callers may reuse theirs.
	return mapBadgerErr(t.txn.Set(bytes.Clone(key), bytes.Clone(value)))
}

func (t badgerTx) Delete(key []byte) error {
	return mapBadgerErr(t.txn.Delete(bytes.Clone(key)))
}

func (t badgerTx) Iterate(prefix, start []byte, reverse bool, fn func(key, value []byte) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	// badger's iterator cannot be positioned outside opts.Prefix, which a
	// reverse scan needs (it seeks to the prefix's successor), so the
	// prefix is only a hint for forward scans; ValidForPrefix bounds both.
	if !reverse {
		opts.Prefix = prefix
	}
	opts.Reverse = reverse
	opts.PrefetchValues = false
	it := t.txn.NewIterator(opts)
	defer it.Close()
	seek := start
	skipEqual := false
	// Starts outside the prefix are clamped to its first (or last) key.
	if seek != nil && !reverse && bytes.Compare(seek, prefix) < 0 {
		seek = nil
	}
	if seek != nil && reverse && !bytes.HasPrefix(seek, prefix) && bytes.Compare(seek, prefix) > 0 {
		seek = nil
	}
	if seek == nil {
		if reverse {
			// The last key of the prefix is the largest key below the
			// prefix's successor; badger's reverse Seek lands at or before.
			seek = PrefixEnd(prefix)
			skipEqual = true
			if seek == nil {
				seek = bytes.Repeat([]byte{0xff}, 64)
			}
		} else {
			seek = prefix
		}
	}
	it.Seek(seek)
	if skipEqual && it.Valid() && bytes.Equal(it.Item().Key(), seek) {
		it.Next()
	}
	for ; it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		var (
			more bool
			ferr error
		)
		err := item.Value(func(v []byte) error {
			more, ferr = fn(item.Key(), v)
			return nil
		})
		if err != nil {
			return err
		}
		if ferr != nil || !more {
			return ferr
		}
	}
	return nil
}

// PrefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none (p is all 0xff).
func PrefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// badgerLogger forwards badger's printf-style logging to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	if b.l != nil {
		b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
	}
}

func (b badgerLogger) Warningf(f string, a ...any) {
	if b.l != nil {
		b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
	}
}

func (b badgerLogger) Infof(f string, a ...any) {
	if b.l != nil {
		b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
	}
}

func (b badgerLogger) Debugf(string, ...any) {}
