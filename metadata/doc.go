// Package metadata is the index of bucketfs: an ordered key-value store
// with serializable transactions (DB, Tx), implemented on badger (the only
// file importing badger is badger.go) and by an in-memory twin for tests
// (NewMemory), plus the typed model of the object store on top of it.
//
// Vocabulary (Invenio-Files-REST's data model, types.go): locations,
// buckets, object versions (a version without a file is a delete marker),
// file instances (immutable blobs, shared by many versions), multipart
// uploads and their parts, and events (the transactional outbox).
//
// Key encoding (keys.go): every record of the object store lives under
// "st/"; other packages sharing the DB use their own prefixes ("fn/",
// "tok/", ...). The layout makes the hot paths cheap: a key's head is one
// Get; live heads are listed from their own index, and a delimited listing
// seeks past each common prefix instead of scanning under it (List), so a
// page costs the same in a bucket of 10 thousand or 1 million keys; a key's
// versions are contiguous, newest first (inverted sequence); a reverse
// index maps a file to the versions using it; a BLAKE3 index finds
// duplicates.
//
// Concurrency: DB.Update is serializable. On badger a transaction that
// read a key another one wrote meanwhile fails with ErrConflict; the caller
// may run it again. Byte slices handed out by a Tx are valid only inside
// the transaction. An iterator sees the writes its transaction made before
// it was created. With BadgerOptions.SyncWrites, Update returns after the
// commit is on disk. Both DBs are also Syncers: UpdateNoSync commits into
// the log in the page cache (a crash of the process keeps it) and one Sync
// makes every earlier commit durable, which is how the object store
// group-commits.
//
// The model functions (records.go, versions.go, listing.go, multipart.go)
// only read and write a Tx they are given; they enforce no policy (limits,
// locks, preconditions): that is the storage package's job.
//
// This package imports no other bucketfs package.
package metadata
