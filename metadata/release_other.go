//go:build !linux

package metadata

// MemoryReleaser is the optional ability of a DB to give back memory that
// it holds only as a cache.
type MemoryReleaser interface {
	ReleaseMemory() error
}

// ReleaseMemory does nothing where table mappings cannot be inspected.
func (b *badgerDB) ReleaseMemory() error { return nil }
