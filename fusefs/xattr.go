package fusefs

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/bucketfs/bucketfs/storage"
)

const (
	xattrCreate  = 1 // XATTR_CREATE
	xattrReplace = 2 // XATTR_REPLACE

	bucketfsXattr = "user.bucketfs."
	// b64Prefix marks a stored xattr value that is not valid UTF-8 (Attrs
	// are strings and travel as JSON).
	b64Prefix = "base64:"
	// maxXattrValue bounds one value; Attrs are part of the version record.
	maxXattrValue = 64 << 10
)

func isUserXattr(name string) bool { return strings.HasPrefix(name, "user.") }

// Reads of names outside the user namespace (security.selinux,
// system.posix_acl_access, security.capability) answer EOPNOTSUPP, not
// ENODATA: nothing but user.* is ever stored, and tools take the
// difference to heart. `ls -l` asks for a SELinux label and an ACL of every
// entry, each a FUSE round trip, and stops asking on a device once it was
// told "not supported" (coreutils caches that per st_dev); cp -a and
// rsync -X skip such names instead of failing.

// checkXattrWrite refuses names that cannot be stored: only the user
// namespace is kept, and the bucketfs facts are read-only.
func checkXattrWrite(name string) syscall.Errno {
	switch {
	case strings.HasPrefix(name, bucketfsXattr):
		return syscall.EPERM
	case !isUserXattr(name):
		return syscall.EOPNOTSUPP
	case len(name) > 255:
		return syscall.ERANGE
	}
	return 0
}

func encodeXattr(b []byte) string {
	s := string(b)
	if utf8.ValidString(s) && !strings.HasPrefix(s, b64Prefix) {
		return s
	}
	return b64Prefix + base64.StdEncoding.EncodeToString(b)
}

func decodeXattr(s string) []byte {
	if rest, ok := strings.CutPrefix(s, b64Prefix); ok {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return b
		}
	}
	return []byte(s)
}

// getXattr reads name from attrs, or a read-only fact of v.
func getXattr(attrs map[string]string, v *storage.ObjectVersion, name string) ([]byte, bool) {
	if fact, ok := strings.CutPrefix(name, bucketfsXattr); ok {
		if v == nil {
			return nil, false
		}
		switch fact {
		case "version_id":
			return []byte(v.VersionID), true
		case "mimetype":
			return []byte(v.Mimetype), v.Mimetype != ""
		case "blake3":
			if v.File != nil {
				return []byte(v.File.BLAKE3), v.File.BLAKE3 != ""
			}
		case "md5":
			if v.File != nil {
				return []byte(v.File.MD5), v.File.MD5 != ""
			}
		}
		return nil, false
	}
	s, ok := attrs[attrXattr+name]
	if !ok {
		return nil, false
	}
	return decodeXattr(s), true
}

// listXattrs lists the stored user.* names, NUL separated. The read-only
// user.bucketfs.* facts are not listed, so tools that copy every listed
// xattr (cp -a, rsync -X, tar --xattrs) do not try to write them back.
func listXattrs(attrs map[string]string) []byte {
	var names []string
	for k := range attrs {
		if n, ok := strings.CutPrefix(k, attrXattr); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []byte
	for _, n := range names {
		out = append(out, n...)
		out = append(out, 0)
	}
	return out
}

// copyXattr answers a get/list request: size only for an empty buffer,
// ERANGE for a short one.
func copyXattr(dest, val []byte) (uint32, syscall.Errno) {
	if len(dest) == 0 {
		return uint32(len(val)), 0
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

// dirXattrs answers xattr requests on directories: none are stored
// (a directory may have no marker object to hold them), and writes are
// EOPNOTSUPP, which cp -a and rsync -X treat as "not supported here"
// rather than as a failure (go-fuse's default, ENODATA, makes cp fail).
type dirXattrs struct{}

func (dirXattrs) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if !isUserXattr(attr) {
		return 0, syscall.EOPNOTSUPP
	}
	return 0, syscall.ENODATA
}
func (dirXattrs) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) { return 0, 0 }
func (dirXattrs) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EOPNOTSUPP
}
func (dirXattrs) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.EOPNOTSUPP
}
