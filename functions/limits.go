package functions

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// resourceLimits bound one call's process tree: cgroup v2 when a writable,
// delegated hierarchy with the memory and cpu controllers is there, else
// rlimits on the leader (inherited by its children).
type resourceLimits struct {
	MemoryBytes int64
	CPU         float64 // cores
	CPUSeconds  int64   // rlimit fallback: total CPU time
	MaxPids     int64
	CgroupRoot  string // "" = no cgroups
}

var cgSeq atomic.Int64

// cgroup is one call's leaf cgroup; nil means none (all methods are nil-safe).
type cgroup struct {
	dir string
	fd  *os.File
}

// detectCgroupRoot returns a cgroup v2 directory we may create children in
// with memory and cpu limits, or "".
func detectCgroupRoot() string {
	const base = "/sys/fs/cgroup"
	var st unix.Statfs_t
	if unix.Statfs(base, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil || !strings.Contains(string(b), "memory") || !strings.Contains(string(b), "cpu") {
		return ""
	}
	root := filepath.Join(base, "bucketfs-functions")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return ""
	}
	// Enable the controllers for our subtree; fails when not delegated.
	if os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0) != nil {
		return ""
	}
	if os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+memory +cpu +pids"), 0) != nil {
		return ""
	}
	return root
}

// prepare creates the call's cgroup and makes cmd start inside it.
func (l resourceLimits) prepare(cmd *exec.Cmd) (*cgroup, error) {
	if l.CgroupRoot == "" {
		return nil, nil
	}
	dir := filepath.Join(l.CgroupRoot, fmt.Sprintf("call-%d-%d", os.Getpid(), cgSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	cg := &cgroup{dir: dir}
	write := func(name, val string) error { return os.WriteFile(filepath.Join(dir, name), []byte(val), 0) }
	if l.MemoryBytes > 0 {
		if err := write("memory.max", strconv.FormatInt(l.MemoryBytes, 10)); err != nil {
			cg.cleanup()
			return nil, err
		}
		write("memory.swap.max", "0")
	}
	if l.CPU > 0 {
		const period = 100000
		if err := write("cpu.max", fmt.Sprintf("%d %d", int64(l.CPU*period), period)); err != nil {
			cg.cleanup()
			return nil, err
		}
	}
	if l.MaxPids > 0 {
		write("pids.max", strconv.FormatInt(l.MaxPids, 10))
	}
	fd, err := os.Open(dir)
	if err != nil {
		cg.cleanup()
		return nil, err
	}
	cg.fd = fd
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(fd.Fd())
	return cg, nil
}

// applyRlimits is the fallback: coarse, but it bounds runaway code.
func (l resourceLimits) applyRlimits(pid int) {
	if l.MemoryBytes > 0 {
		lim := &unix.Rlimit{Cur: uint64(l.MemoryBytes), Max: uint64(l.MemoryBytes)}
		unix.Prlimit(pid, unix.RLIMIT_AS, lim, nil)
	}
	if l.CPUSeconds > 0 {
		lim := &unix.Rlimit{Cur: uint64(l.CPUSeconds), Max: uint64(l.CPUSeconds + 5)}
		unix.Prlimit(pid, unix.RLIMIT_CPU, lim, nil)
	}
	if l.MaxPids > 0 {
		// RLIMIT_NPROC counts per user, so only an upper bound for runaway forks.
		_ = l.MaxPids
	}
}

func (c *cgroup) kill() {
	if c == nil {
		return
	}
	if os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0) != nil {
		if b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs")); err == nil {
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
}

func (c *cgroup) oomKilled() bool {
	if c == nil {
		return false
	}
	f, err := os.Open(filepath.Join(c.dir, "memory.events"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == "oom_kill" && v != "0" {
			return true
		}
	}
	return false
}

func (c *cgroup) cleanup() {
	if c == nil {
		return
	}
	if c.fd != nil {
		c.fd.Close()
	}
	os.Remove(c.dir)
}
