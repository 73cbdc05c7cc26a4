package fusefs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Server is a live mount.
type Server struct {
	srv      *fuse.Server
	m        *mountFS
	dir      string
	cancel   context.CancelFunc
	ownStage bool
}

// Mount mounts store at dir and serves it until Unmount (or an external
// fusermount -u / umount). It cleans a stale mount left at dir by a killed
// process, and refuses a live one with ErrMountBusy.
func Mount(ctx context.Context, store storage.ObjectStore, dir string, opts Options) (*Server, error) {
	if err := CheckFUSE(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := PrepareMountpoint(dir); err != nil {
		return nil, err
	}
	if opts.UID == 0 && opts.GID == 0 {
		opts.UID, opts.GID = uint32(os.Getuid()), uint32(os.Getgid())
	}
	if opts.MemoryStaging <= 0 {
		opts.MemoryStaging = DefaultOptions().MemoryStaging
	}
	m := newMountFS(store, opts)
	s := &Server{m: m, dir: dir}
	m.stage = opts.StagingDir
	if m.stage == "" {
		if m.stage, err = os.MkdirTemp("", "bucketfs-staging-"); err != nil {
			return nil, err
		}
		s.ownStage = true
	} else if err := os.MkdirAll(m.stage, 0o700); err != nil {
		return nil, err
	}
	m.root = &rootNode{m: m}

	et, at, nt := opts.EntryTimeout, opts.AttrTimeout, opts.NegativeTimeout
	if _, follows := store.(storage.EventSource); !follows {
		et, at, nt = min(et, shortEntryTimeout), min(at, shortAttrTimeout), min(nt, shortNegativeTimeout)
	}
	fo := &fs.Options{
		EntryTimeout:    &et,
		AttrTimeout:     &at,
		NegativeTimeout: &nt,
		UID:             opts.UID,
		GID:             opts.GID,
		MountOptions: fuse.MountOptions{
			AllowOther:         opts.AllowOther,
			Debug:              opts.Debug,
			FsName:             opts.FsName,
			Name:               "bucketfs",
			MaxWrite:           opts.MaxWrite,
			MaxReadAhead:       opts.MaxReadAhead,
			MaxBackground:      opts.MaxBackground,
			DisableReadDirPlus: !opts.ReadDirPlus,
			// mount(2) directly when root; fusermount3 otherwise.
			DirectMount: os.Geteuid() == 0,
			PanicHandler: func(p any) fuse.Status {
				m.log.Error("mount: panic in a request handler", "panic", p)
				return fuse.EIO
			},
		},
	}
	if opts.Debug {
		fo.Logger = log.New(os.Stderr, "fuse: ", 0)
	}
	if m.blobs != nil && fo.DirectMount && m.maxSplice > 0 && m.maxSplice < opts.MaxWrite {
		// READs no larger than a splice can carry (go-fuse lets options
		// override its max_read=MaxWrite only when it mounts directly), so
		// reads of local blobs never pass through our memory. Writes keep
		// MaxWrite.
		fo.MountOptions.Options = append(fo.MountOptions.Options, fmt.Sprintf("max_read=%d", m.maxSplice))
	}
	srv, err := fs.Mount(dir, m.root, fo)
	if err != nil {
		if s.ownStage {
			os.RemoveAll(m.stage)
		}
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	s.srv = srv
	// Read-ahead requests no larger than a splice can carry, so sequential
	// reads of local blobs never pass through our memory.
	ra := opts.MaxReadAhead
	if m.blobs != nil && m.maxSplice > 0 {
		ra = min(ra, m.maxSplice)
	}
	if err := setReadAhead(dir, ra); err != nil {
		m.log.Debug("mount: read-ahead left at the kernel's default", "err", err)
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	go m.runNotify(bg)
	go m.runRelease(bg)
	if es, ok := store.(storage.EventSource); ok {
		go m.watchEvents(bg, es)
	}
	return s, nil
}

// Dir is the mount point.
func (s *Server) Dir() string { return s.dir }

// Wait blocks until the file system is unmounted.
func (s *Server) Wait() {
	s.srv.Wait()
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.ownStage {
		os.RemoveAll(s.m.stage)
	}
}

// Unmount unmounts, retrying for a few seconds while the mount is busy,
// then detaching it lazily so the process can always exit.
func (s *Server) Unmount() error {
	var err error
	for i := 0; i < 20; i++ {
		if err = s.srv.Unmount(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		if derr := syscall.Unmount(s.dir, syscall.MNT_DETACH); derr == nil {
			err = nil
		} else {
			_ = exec.Command("fusermount3", "-uz", s.dir).Run()
		}
	}
	s.cleanup()
	return err
}

// CheckFUSE reports ErrFUSEUnavailable when this system cannot mount.
func CheckFUSE() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: open /dev/fuse: %v (load the fuse module, or install fuse3)", ErrFUSEUnavailable, err)
	}
	f.Close()
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			if _, err2 := exec.LookPath("fusermount"); err2 != nil {
				return fmt.Errorf("%w: no fusermount3 in PATH (install fuse3)", ErrFUSEUnavailable)
			}
		}
	}
	return nil
}

// PrepareMountpoint checks dir: a stale FUSE mount (its server died) is
// detached, a live mount is ErrMountBusy, a missing or non-directory path
// is an error.
func PrepareMountpoint(dir string) error {
	// statfs always reaches a FUSE server (stat may be answered from the
	// kernel's attribute cache), so it tells a dead server apart.
	var sfs syscall.Statfs_t
	err := syscall.Statfs(dir, &sfs)
	if err == nil || !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
		_, err = os.Stat(dir)
	}
	if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
		if uerr := unmountStale(dir); uerr != nil {
			return fmt.Errorf("%w: %s is a stale mount that could not be cleaned: %v", ErrMountBusy, dir, uerr)
		}
		_, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	fi, _ := os.Stat(dir)
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s", ErrNotDirectory, dir)
	}
	if isMounted(dir) {
		return fmt.Errorf("%w: %s is already mounted (unmount it with fusermount3 -u %s)", ErrMountBusy, dir, dir)
	}
	return nil
}

func unmountStale(dir string) error {
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err == nil {
		return nil
	}
	out, err := exec.Command("fusermount3", "-uz", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// isMounted reports whether dir is a mount point (from mountinfo).
func isMounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == dir {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// setReadAhead sets the read-ahead window of the mount's backing device.
// The kernel caps FUSE read-ahead at its default (128 KiB) whatever
// max_readahead the file system asks for at INIT, so a sequential read
// would arrive in 128 KiB requests; the window is raised through sysfs
// (root only; otherwise the default stays).
func setReadAhead(dir string, bytes int) error {
	if bytes <= 0 {
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return err
	}
	dev := uint64(st.Dev)
	major, minor := (dev>>8)&0xfff|(dev>>32)&^0xfff, dev&0xff|(dev>>12)&^0xff
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", major, minor)
	return os.WriteFile(p, []byte(strconv.Itoa(bytes/1024)), 0)
}
