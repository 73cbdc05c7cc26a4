//go:build linux

package metadata

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// MemoryReleaser is the optional ability of a DB to give back memory that
// it holds only as a cache.
type MemoryReleaser interface {
	ReleaseMemory() error
}

var _ MemoryReleaser = (*badgerDB)(nil)

// ReleaseMemory unmaps from this process the pages of the index's table
// files that are mapped. badger reads its (immutable) tables through
// shared mappings, so every page a big scan touched stays in the
// process's resident set; after MADV_DONTNEED those pages are still in the
// page cache, and the next read maps them again with a minor fault.
func (b *badgerDB) ReleaseMemory() error {
	dir, err := filepath.Abs(b.dir)
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return err
	}
	defer f.Close()
	var ranges [][2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || !strings.HasSuffix(fields[5], ".sst") || filepath.Dir(fields[5]) != dir {
			continue
		}
		if !strings.HasSuffix(fields[1], "s") {
			// Only shared mappings: their pages belong to the page cache
			// (a dirty one stays dirty there), so unmapping loses nothing.
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		ranges = append(ranges, [2]uintptr{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, r := range ranges {
		// A table closed (compacted away) since /proc was read is no
		// longer mapped there: madvise then fails with ENOMEM, harmlessly.
		syscall.Syscall(syscall.SYS_MADVISE, r[0], r[1]-r[0], syscall.MADV_DONTNEED)
	}
	return nil
}
