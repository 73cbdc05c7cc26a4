package metadata

import "errors"

// ErrNotFound and ErrConflict live in kv.go with the DB interface.

// ErrTxnTooBig is returned when one transaction writes more than the index
// accepts in a single commit; split the work into several transactions.
var ErrTxnTooBig = errors.New("metadata: transaction too big")

// ErrCorrupt is returned when a stored record cannot be decoded.
var ErrCorrupt = errors.New("metadata: corrupt record")

var (
	errClosed   = errors.New("metadata: db is closed")
	errReadOnly = errors.New("metadata: write in a read-only transaction")
	errEmptyKey = errors.New("metadata: empty key")
)
