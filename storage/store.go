package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage/blob"
)

// Options configure a Store.
type Options struct {
	// Logger receives housekeeping and badger messages (nil = silent).
	Logger *slog.Logger
	// DownloadEvents records an s3:ObjectAccessed:Get event for every Get
	// (Invenio's file_downloaded signal). Off by default: it costs a commit.
	DownloadEvents bool
	// MultipartExpiry is the age after which ExpireMultiparts with
	// olderThan <= 0 removes an upload.
	MultipartExpiry time.Duration
	// MinPartSize, MaxPartSize and MaxParts are the multipart limits (spec §8).
	MinPartSize int64
	MaxPartSize int64
	MaxParts    int
	// Badger tunes the on-disk index.
	Badger metadata.BadgerOptions
	// DB, when set, is used instead of opening badger in dir/meta (tests
	// use metadata.NewMemory()). The Store closes it.
	DB metadata.DB
	// MaxBatch bounds how many changes share one commit.
	MaxBatch int
	// InlineSize: files up to this size keep their bytes in the index
	// instead of a blob, so a small durable put costs no extra fsync (its
	// bytes ride in the group commit). 0 = default, < 0 = never inline.
	InlineSize int64
	// InlineMD5Max: puts up to this size compute their MD5 in the put's
	// own pass; larger ones leave it to the background checksummer (see
	// MD5Ensurer). 0 = default (64 MiB), < 0 = always in the pass.
	InlineMD5Max int64
	// NoBackgroundMD5 leaves pending MD5s to be computed on demand only
	// (FileMD5, EnsureMD5): for tests and benchmarks.
	NoBackgroundMD5 bool
}

// DefaultOptions returns the settings of Invenio-Files-REST.
func DefaultOptions() Options {
	return Options{
		MultipartExpiry: 4 * 24 * time.Hour,
		MinPartSize:     5 << 20,
		MaxPartSize:     5 << 30,
		MaxParts:        10000,
		Badger:          metadata.DefaultBadgerOptions(),
		MaxBatch:        128,
		InlineSize:      64 << 10,
		InlineMD5Max:    inlineMD5Max,
	}
}

// Store is the object store of one data directory: the metadata index in
// dir/meta and blobs in locations (the default one in dir/blobs).
type Store struct {
	dir  string
	opts Options
	db   metadata.DB
	log  *slog.Logger
	c    *committer
	lock *os.File // flock on dir/LOCK

	mu       sync.RWMutex
	backends map[string]blob.Backend // by location id

	pmu     sync.Mutex
	pending map[string]int // blob ids written but not yet recorded (GC must spare them)

	uploads uploadLocks
	hashes  uploadHashes // of open uploads, computed while parts arrive (multipart_hash.go)
	md5     md5Worker
	checked verifiedInline // inline contents whose BLAKE3 matched (verified.go)

	closeOnce sync.Once
	closeErr  error
}

var (
	_ ObjectStore = (*Store)(nil)
	_ Mover       = (*Store)(nil)
	_ EventSource = (*Store)(nil)
	_ BlobOpener  = (*Store)(nil)
)

var errClosed = fmt.Errorf("%w: store is closed", ErrUnavailable)

// DefaultLocationName is the name of the location created in a new data directory.
const DefaultLocationName = "default"

// Open opens (creating) the data directory dir.
func Open(dir string, opts Options) (*Store, error) {
	def := DefaultOptions()
	if opts.MultipartExpiry <= 0 {
		opts.MultipartExpiry = def.MultipartExpiry
	}
	if opts.MinPartSize <= 0 {
		opts.MinPartSize = def.MinPartSize
	}
	if opts.MaxPartSize <= 0 {
		opts.MaxPartSize = def.MaxPartSize
	}
	if opts.MaxParts <= 0 {
		opts.MaxParts = def.MaxParts
	}
	if opts.InlineSize == 0 {
		opts.InlineSize = def.InlineSize
	}
	if opts.InlineMD5Max == 0 {
		opts.InlineMD5Max = def.InlineMD5Max
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = def.MaxBatch
	}
	if opts.Badger == (metadata.BadgerOptions{}) {
		opts.Badger = def.Badger
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	db := opts.DB
	if db == nil {
		bo := opts.Badger
		bo.Logger = opts.Logger
		if db, err = metadata.OpenBadger(filepath.Join(dir, "meta"), bo); err != nil {
			lock.Close()
			return nil, err
		}
	}
	s := &Store{dir: dir, opts: opts, db: db, log: log, lock: lock, backends: map[string]blob.Backend{}, pending: map[string]int{}}
	c, err := newCommitter(db, opts.MaxBatch)
	if err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	s.c = c
	c.flushBlobs = s.flushBlobs
	if err := s.ensureDefaultLocation(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startMD5(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the writer and closes the index. Later calls do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopMD5()
		// NoSync changes become durable before the index closes.
		serr := s.c.sync()
		if errors.Is(serr, errClosed) {
			serr = nil
		}
		s.c.close()
		s.closeErr = errors.Join(serr, s.db.Close())
		s.lock.Close() // releases the directory lock
	})
	return s.closeErr
}

// DB is the metadata index, shared with other packages under their own
// key prefixes (the store owns "st/").
func (s *Store) DB() metadata.DB { return s.db }

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) ensureDefaultLocation() error {
	var locs []*Location
	if err := s.db.View(func(tx metadata.Tx) error {
		var err error
		locs, err = metadata.ListLocations(tx)
		return err
	}); err != nil {
		return err
	}
	if len(locs) > 0 {
		return nil
	}
	_, err := s.CreateLocation(context.Background(), DefaultLocationName, "blobs", true)
	return err
}

// CreateLocation adds a location: a directory for blobs (relative URIs are
// relative to the data directory). With def it becomes the default.
func (s *Store) CreateLocation(ctx context.Context, name, uri string, def bool) (*Location, error) {
	if !validLocationName(name) {
		return nil, fmt.Errorf("create location %q: %w: name must match ^[a-z][a-z0-9-]+$ and have at most 20 characters", name, ErrInvalid)
	}
	if uri == "" {
		return nil, fmt.Errorf("create location %q: %w: empty uri", name, ErrInvalid)
	}
	loc := &Location{ID: uuid.NewString(), Name: name, URI: uri, Default: def}
	if _, err := s.backendFor(loc); err != nil {
		return nil, fmt.Errorf("create location %q: %w", name, err)
	}
	err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
		locs, err := metadata.ListLocations(tx)
		if err != nil {
			return err
		}
		anyDefault := false
		for _, l := range locs {
			if l.Name == name {
				return fmt.Errorf("create location %q: %w", name, ErrExists)
			}
			if l.Default && def {
				l.Default = false
				if err := metadata.PutLocation(tx, l); err != nil {
					return err
				}
			}
			anyDefault = anyDefault || l.Default
		}
		loc.Default = def || !anyDefault
		return metadata.PutLocation(tx, loc)
	})
	if err != nil {
		return nil, err
	}
	return loc, nil
}

// SetDefaultLocation makes the named location the default for new buckets.
func (s *Store) SetDefaultLocation(ctx context.Context, name string) error {
	return s.c.do(func(tx metadata.Tx, c *txCtx) error {
		locs, err := metadata.ListLocations(tx)
		if err != nil {
			return err
		}
		found := false
		for _, l := range locs {
			found = found || l.Name == name
		}
		if !found {
			return fmt.Errorf("location %q: %w", name, ErrNotFound)
		}
		for _, l := range locs {
			if l.Default != (l.Name == name) {
				l.Default = l.Name == name
				if err := metadata.PutLocation(tx, l); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Locations lists the locations.
func (s *Store) Locations(ctx context.Context) ([]*Location, error) {
	var locs []*Location
	err := s.db.View(func(tx metadata.Tx) error {
		var err error
		locs, err = metadata.ListLocations(tx)
		return err
	})
	return locs, err
}

func validLocationName(n string) bool {
	if len(n) < 2 || len(n) > 20 || n[0] < 'a' || n[0] > 'z' {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func (s *Store) backendFor(loc *Location) (blob.Backend, error) {
	s.mu.RLock()
	b := s.backends[loc.ID]
	s.mu.RUnlock()
	if b != nil {
		return b, nil
	}
	root := loc.URI
	if !filepath.IsAbs(root) {
		root = filepath.Join(s.dir, root)
	}
	l, err := blob.NewLocal(root)
	if err != nil {
		return nil, mapBlobErr(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.backends[loc.ID]; b != nil {
		return b, nil
	}
	s.backends[loc.ID] = l
	return l, nil
}

// backend returns the backend of a location id.
func (s *Store) backend(locationID string) (blob.Backend, error) {
	s.mu.RLock()
	b := s.backends[locationID]
	s.mu.RUnlock()
	if b != nil {
		return b, nil
	}
	var loc *Location
	if err := s.db.View(func(tx metadata.Tx) error {
		var err error
		loc, err = metadata.GetLocation(tx, locationID)
		return err
	}); err != nil {
		if metadata.IsNotFound(err) {
			return nil, fmt.Errorf("location %s: %w", locationID, ErrNotFound)
		}
		return nil, err
	}
	return s.backendFor(loc)
}

func (s *Store) addPending(id string) {
	s.pmu.Lock()
	s.pending[id]++
	s.pmu.Unlock()
}

func (s *Store) donePending(id string) {
	s.pmu.Lock()
	if s.pending[id]--; s.pending[id] <= 0 {
		delete(s.pending, id)
	}
	s.pmu.Unlock()
}

func (s *Store) isPending(id string) bool {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.pending[id] > 0
}

// mapBlobErr turns blob sentinels into the store's.
func mapBlobErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blob.ErrNoSpace):
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	case errors.Is(err, blob.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, blob.ErrInvalidID):
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return err
}

// view runs a read-only transaction.
func (s *Store) view(fn func(tx metadata.Tx) error) error { return s.db.View(fn) }

func now() time.Time { return time.Now().UTC() }
