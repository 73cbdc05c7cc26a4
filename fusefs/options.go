package fusefs

import (
	"log/slog"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// Options configure a mount. Fill them from DefaultOptions.
type Options struct {
	// ShowVersions makes readdir list the hidden ".versions" entries.
	ShowVersions bool
	// AllowOther lets other users than the mounting one use the mount.
	AllowOther bool
	// Debug logs every FUSE request (go-fuse's debug output).
	Debug bool
	// FsName is the source shown by mount(8) and df.
	FsName string
	// StagingDir holds files being written. "" = a fresh directory under
	// os.TempDir(), removed at unmount.
	StagingDir string
	// MemoryStaging is how large a file being written may grow in memory
	// before it is moved to a file in StagingDir.
	MemoryStaging int64
	// WriteBack, when set, takes closed files for background upload (a
	// mount of a remote store). nil = close uploads synchronously.
	WriteBack WriteBack
	// BlockCache, when set, serves reads of a store without local blobs (a
	// remote server) from a bounded on-disk cache of ranged reads.
	BlockCache *BlockCache
	// EntryTimeout, AttrTimeout and NegativeTimeout are the kernel cache
	// lifetimes. They are long by default: when the store reports its
	// changes (storage.EventSource, the local store) every change made by
	// someone else invalidates exactly what it touched, and the mount's own
	// changes reach the kernel with the requests that made them. A store
	// that does not report its changes (a remote server, where other
	// clients write) gets at most the short ones below (1 s, 1 s, 200 ms).
	EntryTimeout    time.Duration
	AttrTimeout     time.Duration
	NegativeTimeout time.Duration
	// MaxWrite is the largest WRITE request (the kernel caps it at 1 MiB).
	MaxWrite int
	// MaxReadAhead is the kernel read-ahead window.
	MaxReadAhead int
	// MaxBackground is how many asynchronous requests (read-ahead) the
	// kernel may have outstanding.
	MaxBackground int
	// ReadDirPlus lets readdir return attributes too, taken from the
	// listing itself (no lookup per entry). On by default: measured on a
	// 100,000-entry folder (bench/mount.sh, load ~5-9), ls -l took 9.4 s
	// with it and 50 s without (a LOOKUP per entry), and stat after a
	// listing is served by the kernel; ls -f pays for the nodes it creates
	// (1.5 s vs 0.8 s).
	ReadDirPlus bool
	// UID and GID own files that carry no owner attribute (default: the
	// mounting process).
	UID, GID uint32
	// OriginOf, when set, names the origin of a change made by a process
	// (the functions runtime answers for the processes of a running call,
	// so a function's writes through the mount do not trigger it again).
	OriginOf func(pid int) (storage.Origin, bool)
	// Logger receives warnings (nil = silent).
	Logger *slog.Logger
}

// DefaultOptions returns the settings chosen for the local store.
func DefaultOptions() Options {
	return Options{
		MemoryStaging:   4 << 20,
		EntryTimeout:    time.Hour,
		AttrTimeout:     time.Hour,
		NegativeTimeout: time.Hour,
		MaxWrite:        1 << 20,
		MaxReadAhead:    1 << 20,
		MaxBackground:   64,
		FsName:          "bucketfs",
		ReadDirPlus:     true,
	}
}

// Short kernel cache lifetimes, for a store whose changes the mount cannot
// follow: another client's change shows within a second.
const (
	shortEntryTimeout    = time.Second
	shortAttrTimeout     = time.Second
	shortNegativeTimeout = 200 * time.Millisecond
)
