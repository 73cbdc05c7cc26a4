// Package storage is the object store of bucketfs: Store keeps the
// metadata index (package metadata, badger in <data dir>/meta) and the
// blobs (package storage/blob, the default location in <data dir>/blobs),
// and implements ObjectStore plus the optional Mover, EventSource and
// BlobOpener abilities. The same interface is implemented over HTTP by
// remote.Client.
//
// Semantics follow Invenio-Files-REST (see the spec): every write makes a
// new head version; delete writes a delete marker; RemoveVersion deletes a
// version for good and frees its blob once no version uses it; Copy,
// Restore, Snapshot and Move share file instances and never copy bytes;
// identical content (same BLAKE3) is stored once. Bucket size counts every
// version that has a file plus multipart reservations, and is checked
// against quota and maximum file size before bytes are kept (upfront
// against the announced size, while streaming, and again at commit).
// Deviations from Invenio are documented where they are made (key rules,
// empty files allowed, full-size last multipart part, expiry of incomplete
// uploads, restoring the head is allowed, quota checked on copy and
// restore, hard-removed bytes are freed).
//
// Writing. Every change of the index is an op run by one writer goroutine
// (commit.go): ops that arrive while a commit is in flight share the next
// transaction, so concurrent puts are group-committed (one synced badger
// commit for many objects) and never conflict. The sync of committed
// batches runs in a second goroutine while the writer commits the next
// ones; a put is acknowledged once a sync covering its batch returned. The same writer assigns the
// event sequence and the version clock, so both follow commit order. Each
// change writes its event (S3-shaped names, origin from the context) in the
// same transaction: the outbox. Events, Cursor and Ack serve consumers.
//
// Crash guarantees (local filesystem, badger with SyncWrites; without NoSync):
//   - Put: the blob is written to a temporary file, fsynced, renamed under
//     its file id and its directory fsynced; only then is the metadata
//     committed and synced. When Put returns, the version survives power
//     loss. A crash before that leaves no visible version, at most a
//     temporary file or an unreferenced blob, which CollectGarbage removes.
//   - Small files (up to Options.InlineSize, 64 KiB by default) are stored
//     inline: their bytes go into the same synced transaction as their
//     records, so a small durable put costs no fsync of its own and shares
//     the group commit (FileInstance.URI is "inline:<id>").
//   - NoSync (PutOptions.NoSync, DeleteOptions.NoSync, WithNoSync for the
//     other writes): the blob is renamed into place without fsync and the
//     records are committed into badger's log in the page cache, so the
//     change survives a crash of the process (POSIX close semantics) but
//     not necessarily a power loss until the next synced commit, Sync, or
//     the background sync at most a second later. Every synced commit
//     first fsyncs the blobs NoSync puts left unsynced, so it never makes a
//     record durable before the blob it names. Blobs a NoSync removal frees
//     are deleted only after the removal is synced. Before that sync the
//     kernel may write the log back ahead of a blob on its own, so a power
//     loss within that second can leave a NoSync file whose content fails
//     its checksum (reported by fixity and fsck) rather than no file.
//   - Multipart: the blob is allocated at init; each part is fdatasynced
//     before it is recorded, so a listed part survives power loss.
//     Complete hashes the assembled blob and commits the version in one
//     transaction.
//   - RemoveVersion/RemoveBucket free blobs after the commit; a crash in
//     between leaves an unreferenced blob for CollectGarbage.
//   - A read of a whole object verifies its BLAKE3 and fails with
//     ErrChecksum if the bytes changed; CheckFixity/FixityPass record the
//     outcome of re-hashing (last_check, last_check_at).
//
// Large operations: Snapshot copies heads in transactions of 200 and a
// directory Move too large for one transaction moves in chunks of 100 keys;
// a crash in between leaves a partial result in which every key is whole.
//
// Concurrency: every method of Store is safe for concurrent use. Writes to
// one key are serialized by the writer; the last committed write is the
// head. Reads see committed state only.
//
// This package imports metadata and storage/blob, never the packages above
// it (remote, fusefs, syncer, functions, cmd).
package storage
