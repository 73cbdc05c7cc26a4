package storage

import "github.com/bucketfs/bucketfs/metadata"

// MemoryReleaser is the optional ability of a store to give back memory it
// holds only as a cache (a long-running mount calls it after big listings).
type MemoryReleaser interface {
	ReleaseMemory() error
}

var _ MemoryReleaser = (*Store)(nil)

// ReleaseMemory releases the index's cached table mappings (see
// metadata.MemoryReleaser); a no-op for indexes without any.
func (s *Store) ReleaseMemory() error {
	if r, ok := s.db.(metadata.MemoryReleaser); ok {
		return r.ReleaseMemory()
	}
	return nil
}
