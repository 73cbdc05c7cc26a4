// Package fusefs mounts an object store (storage.ObjectStore) as a POSIX
// file system with go-fuse. It is the only package that imports go-fuse.
//
// Vocabulary. The mount root lists buckets (by name, or by id when a bucket
// has no name); below a bucket, a directory is a key prefix ending in "/"
// (implied by the keys under it, or made explicit by a directory marker
// object whose key ends in "/"), a file is the head version of a key. Every
// directory has a hidden ".versions" entry (found by lookup, not listed by
// readdir unless Options.ShowVersions) holding one read-only folder per file
// name with one entry per version, and at a bucket root "@<RFC3339 time>"
// folders that show the bucket as it was at that time.
//
// Writes. A file opened for writing is staged (in memory while small, then
// in a file under the staging directory) and becomes ONE new version when
// its last writable handle is closed or on fsync. Without a WriteBack the
// upload happens synchronously in close(2)/fsync(2), so a failed upload is
// reported to the writer; with a WriteBack, close hands the staged file to
// the write-back engine and fsync waits for its upload.
//
// Concurrency. go-fuse serves requests on many goroutines. Each file node
// guards its attributes and open state with its own mutex; directory
// operations are serialised per (dir, name) by go-fuse, and namespace
// changes are single store calls (atomic on the local store). Kernel cache
// invalidations are sent from a separate goroutine, never from inside a
// request handler (a notification written while the kernel waits for that
// request can deadlock).
//
// Durability. POSIX's: every store write of the mount is a NoSync commit
// (storage.WithNoSync), so what close(2), unlink, rename or mkdir did
// survives a crash of the mount process when the call returns, and fsync(2)
// of a file or a directory makes it power-loss durable (Store.Sync). A big
// staged file becomes its blob by rename (storage.Adopter), not by a copy.
//
// fusefs must not import net/http, badger or the CLI.
package fusefs
