// Package blob stores the bytes of file instances behind one small
// interface, Backend, so the object store can keep blobs on a local disk
// today and on an S3-compatible store later.
//
// Vocabulary: a blob is the immutable content of one file instance, named by
// the instance's id. A Writer fills a temporary blob and Commit publishes it
// under its id; a multipart upload instead Allocates the final blob and
// writes its parts in place with WriteAt.
//
// Writing: a blob of known size of 64 MiB and more (CreateSized) is written
// with O_DIRECT, from the caller's buffers straight to the disk, which
// spares the CPU a copy into the page cache; its unaligned tail goes
// through the cache. Smaller blobs are written through the cache, starting
// writeback every 8 MiB. NoSync commits (CommitNoSync, Adopt) publish a
// blob before it is durable and leave the fsync to Flush.
//
// Durability: Commit returns only after the bytes and the directory entries
// naming them are fsynced; WriteAt fdatasyncs before returning. A crash
// leaves at most temporary files (RemoveTemps) and blobs no file instance
// refers to (found with List by the store's garbage collector).
//
// Concurrency: every method may be called from many goroutines; writers of
// distinct ids never interfere. A full disk is reported as ErrNoSpace.
//
// This package must not import the store or the metadata index.
package blob
