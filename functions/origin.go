package functions

import (
	"os"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
)

// OriginResolver is the optional ability the mount can use to attribute a
// write to the function call whose process made it (design §5.5: FUSE
// requests carry the caller's pid). The mount should resolve at open or
// create time and remember the origin on the handle, since kernel writeback
// may come with pid 0.
type OriginResolver interface {
	OriginForPID(pid int) (storage.Origin, bool)
}

var _ OriginResolver = (*Service)(nil)

// OriginForPID returns the origin of writes made by pid when it belongs to
// a running call's process group: kind "function", the call's ids and one
// hop more than the event that caused the call.
func (s *Service) OriginForPID(pid int) (storage.Origin, bool) {
	if pid <= 0 {
		return storage.Origin{}, false
	}
	pgid, ok := processGroup(pid)
	if !ok {
		return storage.Origin{}, false
	}
	v, ok := s.pgids.Load(pgid)
	if !ok {
		return storage.Origin{}, false
	}
	return v.(storage.Origin), true
}

// processGroup reads the process group id of pid from /proc/<pid>/stat
// (field 5, after the parenthesised command name, which may hold spaces).
func processGroup(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, false
	}
	pgid, err := strconv.Atoi(f[2])
	return pgid, err == nil
}
