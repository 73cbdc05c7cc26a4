package metadata

import "errors"

// ErrNotFound is returned by Tx.Get for a missing key.
var ErrNotFound = errors.New("metadata: key not found")

// ErrConflict is returned by DB.Update when a concurrent transaction wrote a
// key this one read; the caller may retry the whole closure.
var ErrConflict = errors.New("metadata: transaction conflict")

// DB is an ordered key-value store with serializable transactions. Two
// implementations: badger (on disk, the only user of badger in the project)
// and an in-memory twin for tests. Other packages (the sync journal, the
// functions registry) keep their own records in a DB under their own key
// prefix.
type DB interface {
	// View runs fn in a read-only snapshot.
	View(fn func(tx Tx) error) error
	// Update runs fn in a read-write transaction and commits it when fn
	// returns nil. The commit is durable (synced) when Update returns.
	Update(fn func(tx Tx) error) error
	Close() error
}

// Tx is one transaction. Byte slices returned by Get and passed to Iterate's
// callback are valid only inside the transaction; copy them to keep them.
type Tx interface {
	Get(key []byte) ([]byte, error)
	Set(key, value []byte) error
	Delete(key []byte) error
	// Iterate calls fn for each key with the prefix, in key order (or reverse
	// order), starting at start (inclusive; nil = the first, or with reverse
	// the last, key of the prefix). fn returns false to stop.
	Iterate(prefix, start []byte, reverse bool, fn func(key, value []byte) (bool, error)) error
}

// Syncer is the optional ability of a DB to commit without waiting for the
// disk and to make such commits durable later. The object store uses it to
// acknowledge writes with POSIX close semantics (they survive a crash of the
// process) and to group the fsyncs of many commits into one.
type Syncer interface {
	// UpdateNoSync is Update whose commit reaches the DB's log in the page
	// cache, so it survives a crash of this process, but not necessarily a
	// power loss until the next Sync (or synced Update) returns.
	UpdateNoSync(fn func(tx Tx) error) error
	// Sync makes every transaction committed before the call durable.
	Sync() error
}
