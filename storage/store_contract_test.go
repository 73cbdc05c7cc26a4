package storage_test

import (
	"testing"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/storage/storetest"
)

// contractPartSize keeps the multipart tests small; the part-size rules
// themselves are checked relative to it.
const contractPartSize = 64 << 10

// openTestStore opens a Store in a fresh temporary directory, closed when
// the test ends.
func openTestStore(t *testing.T, opts storage.Options) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStoreContract(t *testing.T) {
	opts := storage.DefaultOptions()
	opts.MinPartSize = contractPartSize
	so := storetest.DefaultOptions()
	so.MinPartSize = opts.MinPartSize
	so.MaxPartSize = opts.MaxPartSize
	so.MaxParts = opts.MaxParts
	storetest.RunWithOptions(t, so, func(t *testing.T) storage.ObjectStore {
		return openTestStore(t, opts)
	})
}

// TestStoreContractMemoryIndex runs the suite on a Store whose index is the
// in-memory twin of badger (blobs still on disk).
func TestStoreContractMemoryIndex(t *testing.T) {
	so := storetest.DefaultOptions()
	so.MinPartSize = contractPartSize
	storetest.RunWithOptions(t, so, func(t *testing.T) storage.ObjectStore {
		opts := storage.DefaultOptions()
		opts.MinPartSize = contractPartSize
		opts.DB = metadata.NewMemory()
		return openTestStore(t, opts)
	})
}

// TestStoreContractDefaultParts runs the multipart part of the suite with
// the real 5 MiB minimum part size.
func TestStoreContractDefaultParts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 5 MiB parts")
	}
	storetest.RunWithOptions(t, storetest.Options{Only: "Multipart"}, func(t *testing.T) storage.ObjectStore {
		return openTestStore(t, storage.DefaultOptions())
	})
}
