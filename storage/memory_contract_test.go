package storage_test

import (
	"testing"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/storage/storetest"
)

// TestStoreContractMemory runs the contract suite on a Store whose index is
// the in-memory twin, so the twin keeps badger's semantics.
func TestStoreContractMemory(t *testing.T) {
	opts := storage.DefaultOptions()
	opts.MinPartSize = contractPartSize
	so := storetest.DefaultOptions()
	so.MinPartSize = opts.MinPartSize
	so.MaxPartSize = opts.MaxPartSize
	so.MaxParts = opts.MaxParts
	storetest.RunWithOptions(t, so, func(t *testing.T) storage.ObjectStore {
		o := opts
		o.DB = metadata.NewMemory()
		return openTestStore(t, o)
	})
}
