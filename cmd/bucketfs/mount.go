package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/fusefs"
	"github.com/bucketfs/bucketfs/remote"
	"github.com/bucketfs/bucketfs/syncer"
	"github.com/urfave/cli/v2"
)

// defaultMountMemoryLimit (MiB) is the mount's default soft heap limit.
// The kernel keeps a node for every entry it remembers (100,000 after a
// big listing); with the default GOGC the heap could double that before a
// collection returns memory to the system.
const defaultMountMemoryLimit = 96

// daemonEnv marks the background child of `mount --daemon`.
const daemonEnv = "BUCKETFS_MOUNT_DAEMON_CHILD"

func init() {
	commands = append(commands, &cli.Command{
		Name:      "mount",
		Usage:     "mount every bucket as a directory of MNT (foreground; Ctrl-C unmounts)",
		ArgsUsage: "MNT",
		Description: "Buckets appear as MNT/<bucket name or id>/<key path>. Every directory has a hidden\n" +
			".versions folder with each file's old versions; MNT/<bucket>/.versions/@<RFC3339 time>/\n" +
			"shows a bucket as it was. With --remote the mount writes back through a local queue\n" +
			"that uploads closed files in the background; fsync(2) waits for the upload.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "daemon", Usage: "run in the background once mounted"},
			&cli.BoolFlag{Name: "show-versions", Usage: "list the hidden .versions folders in directory listings"},
			&cli.BoolFlag{Name: "readdirplus", Value: true, Usage: "return attributes with directory listings (fast ls -l and stat after a listing; --readdirplus=false: faster ls -f)"},
			&cli.IntFlag{Name: "memory-limit", Value: defaultMountMemoryLimit, Usage: "soft limit of the mount's heap in MiB: the garbage collector works harder near it, so memory goes back to the system after a big listing (0 = none; GOMEMLIMIT overrides)"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let other users use the mount (needs user_allow_other in /etc/fuse.conf)"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request"},
			&cli.StringFlag{Name: "log-file", Usage: "with --daemon, where the background process logs", DefaultText: "<data>/mount.log"},
			&cli.StringFlag{Name: "cache-dir", Usage: "with --remote, where blocks read from the server are cached", DefaultText: "<data>/cache/<server>"},
			&cli.StringFlag{Name: "cache-size", Value: "1G", Usage: "with --remote, the bound of the block cache (0 = no cache: ranged streams)"},
			&cli.DurationFlag{Name: "read-timeout", Value: 30 * time.Second, Usage: "with --remote, a read waiting this long for the server fails with EIO"},
		},
		Action: mountAction,
	})
}

func mountAction(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	mnt, err := filepath.Abs(c.Args().First())
	if err != nil {
		return err
	}
	if err := fusefs.CheckFUSE(); err != nil {
		return err
	}
	// Fail early, in the foreground, on a busy mount point (a stale one is
	// cleaned here).
	if err := fusefs.PrepareMountpoint(mnt); err != nil {
		return err
	}
	if c.Bool("daemon") && os.Getenv(daemonEnv) == "" {
		return daemonize(c, mnt)
	}

	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeStoreBounded(st); err != nil {
			logger(c).Error("close store", "err", err)
		}
	}()

	// functions (issue 6): on the embedded default the mount owns the data
	// directory, so it runs triggers and schedules (Access Service on loopback).
	originOf, stopFunctions, err := startFunctionsMount(c.Context, c, st)
	if err != nil {
		return err
	}
	defer stopFunctions()

	if n := c.Int("memory-limit"); n > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(n) << 20)
	}
	opts := fusefs.DefaultOptions()
	opts.OriginOf = originOf
	opts.ShowVersions = c.Bool("show-versions")
	opts.ReadDirPlus = c.Bool("readdirplus")
	opts.AllowOther = c.Bool("allow-other")
	opts.Debug = c.Bool("debug")
	opts.Logger = logger(c)
	data := c.String("data")
	if u := c.String("remote"); u != "" {
		opts.FsName = "bucketfs:" + u
		sum := sha256.Sum256([]byte(u))
		state := filepath.Join(data, "writeback", hex.EncodeToString(sum[:8]))
		so := syncer.DefaultOptions()
		so.Logger = opts.Logger
		so.IsRetryable = remote.IsRetryable
		so.RetryAfter = remoteRetryAfter
		wb, err := syncer.NewWriteBack(st, state, so)
		if err != nil {
			return fmt.Errorf("write-back queue: %w", err)
		}
		defer wb.Close()
		opts.WriteBack = wb
		opts.StagingDir = filepath.Join(state, "writing")
		bc, err := openBlockCache(c, filepath.Join(data, "cache", hex.EncodeToString(sum[:8])), opts.Logger)
		if err != nil {
			return err
		}
		if bc != nil {
			defer bc.Close()
			opts.BlockCache = bc
		}
	} else {
		opts.FsName = "bucketfs:" + data
		opts.StagingDir = filepath.Join(data, "mount-staging")
	}
	// Files being written when a previous mount died were never closed,
	// so nothing acknowledged lives here.
	os.RemoveAll(opts.StagingDir)

	srv, err := fusefs.Mount(c.Context, st, mnt, opts)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%w: %v", fusefs.ErrMountBusy, err)
		}
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "bucketfs: mounted on %s (Ctrl-C or fusermount3 -u %s to unmount)\n", mnt, mnt)
	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
	}()
	// main's signal.NotifyContext was registered before the mount, so a
	// SIGINT/SIGTERM that arrives at any point cancels c.Context.
	select {
	case <-done:
		return nil // unmounted from outside (fusermount3 -u, umount)
	case <-c.Context.Done():
	}
	if err := srv.Unmount(); err != nil {
		return fmt.Errorf("unmount %s: %w", mnt, err)
	}
	<-done
	return nil
}

// daemonize starts this command again in the background (new session,
// output to a log file) and returns once the mount is up.
func daemonize(c *cli.Context, mnt string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := c.String("log-file")
	if logPath == "" {
		logPath = filepath.Join(c.String("data"), "mount.log")
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return err
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	args := slices.DeleteFunc(slices.Clone(os.Args[1:]), func(a string) bool { return a == "--daemon" || a == "-daemon" })
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("mount daemon exited (%v); see %s", err, logPath)
		case <-deadline:
			return fmt.Errorf("mount daemon not ready after 30s; see %s", logPath)
		case <-time.After(50 * time.Millisecond):
		}
		if mounted(mnt) {
			fmt.Fprintf(c.App.ErrWriter, "bucketfs: mounted on %s (pid %d, log %s)\n", mnt, cmd.Process.Pid, logPath)
			return nil
		}
	}
}

// mounted reports whether a FUSE mount is live at dir.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir && strings.Contains(line, "fuse") {
			return true
		}
	}
	return false
}

// openBlockCache opens the block cache of a mount of a server from
// --cache-dir/--cache-size/--read-timeout (nil when --cache-size is 0).
func openBlockCache(c *cli.Context, defDir string, log *slog.Logger) (*fusefs.BlockCache, error) {
	size, err := parseSize(c.String("cache-size"))
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, nil
	}
	o := fusefs.DefaultBlockCacheOptions()
	o.Dir = c.String("cache-dir")
	if o.Dir == "" {
		o.Dir = defDir
	}
	o.MaxBytes = size
	o.Timeout = c.Duration("read-timeout")
	o.Logger = log
	bc, err := fusefs.NewBlockCache(o)
	if err != nil {
		return nil, fmt.Errorf("--cache-dir %s: %w", o.Dir, err)
	}
	return bc, nil
}

// remoteRetryAfter is the wait a server asked for (429/503 Retry-After).
func remoteRetryAfter(err error) time.Duration {
	var e *remote.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
