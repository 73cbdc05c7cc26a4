// Package syncer mirrors local folders into buckets of a storage.ObjectStore
// and runs the write-back queue of mounts of a remote server.
//
// Vocabulary:
//   - folder: one local directory synced to bucket/prefix.
//   - record: what the journal knows about one synced path (stat tuple,
//     BLAKE3, remote key and the version id we last wrote or saw).
//   - pass: one reconcile of a set of paths (a full rescan or the paths the
//     watcher hinted at) against the journal; it decides uploads, server-side
//     copies (renames) and held deletes.
//   - session: a multipart upload in the journal, resumable after a crash.
//
// Watcher events are only hints: every decision comes from an lstat compared
// with the journal, and a BLAKE3 hash when the stat tuple moved.
//
// Durability: the journal lives in badger (metadata.DB, key prefix "sj/").
// A multipart session is journaled right after InitMultipart, the server's
// ListParts decides which parts still have to be sent, and a complete whose
// answer was lost is resolved with GetMultipart (its VersionID), so a kill -9
// at any point resends at most the parts in flight and never completes twice.
// Sessions are written with synced commits; records, deletes and finished
// sessions with commits that survive a crash of the process at once and a
// power loss after the pass's closing sync (or Close): a record lost that way
// only makes the next pass hash the file and adopt the remote head by BLAKE3.
// A new large file whose size no tracked file has is hashed beside its
// upload (it cannot be a touch, a rename or a copy); its hash is journaled in
// the session as soon as it is known.
// Uploads are never torn: small files are uploaded from an in-memory snapshot
// that was hashed, large ones re-stat the file after every part and before
// complete, and a completed version whose BLAKE3 differs from ours is removed.
//
// Concurrency: an Engine owns one goroutine per folder plus a pool of upload
// workers; WriteBack owns one worker pool. All exported methods are safe for
// concurrent use.
//
// syncer must not import net/http, fusefs, remote or badger.
package syncer
