package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/bucketfs/bucketfs/remote"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/syncer"
)

func init() {
	d := syncer.DefaultOptions()
	commands = append(commands, &cli.Command{
		Name:      "sync",
		Usage:     "mirror local folders into buckets (a daemon, or one pass with --once)",
		ArgsUsage: "LOCAL_DIR",
		Description: "Watches LOCAL_DIR and uploads every change as a new version of BUCKET/PREFIX<path>.\n" +
			"Several folders: --config FILE (YAML: folders: [{path, bucket, prefix, mode}]).\n" +
			"Deletes become delete markers after --delete-delay; a pass with read errors, a vanished\n" +
			"root or more deletes than --max-delete / --max-delete-percent deletes nothing.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "remote", Usage: "URL of the bucketfs server", EnvVars: []string{"BUCKETFS_REMOTE"}},
			&cli.StringFlag{Name: "token", Usage: "access token for --remote", EnvVars: []string{"BUCKETFS_TOKEN"}},
			&cli.StringFlag{Name: "bucket", Usage: "bucket to sync into (created if missing)"},
			&cli.StringFlag{Name: "prefix", Usage: "key prefix inside the bucket"},
			&cli.StringFlag{Name: "mode", Value: "push", Usage: "push, pull or both"},
			&cli.StringFlag{Name: "config", Usage: "YAML file listing several folders"},
			&cli.StringFlag{Name: "state", Usage: "state directory (journal, staged uploads, status file)", EnvVars: []string{"BUCKETFS_SYNC_STATE"}, DefaultText: "$XDG_STATE_HOME/bucketfs/sync"},
			&cli.BoolFlag{Name: "once", Usage: "one full pass, then exit (for cron and scripts)"},
			&cli.DurationFlag{Name: "delay", Value: d.Delay, Usage: "quiet time before a changed path is synced"},
			&cli.DurationFlag{Name: "max-delay", Value: d.MaxDelay, Usage: "sync a path that never settles after this long"},
			&cli.DurationFlag{Name: "delete-delay", Value: d.DeleteDelay, Usage: "hold deletes this long (pairs them with creates)"},
			&cli.DurationFlag{Name: "min-age", Value: d.MinAge, Usage: "minimum mtime age before a file is read"},
			&cli.DurationFlag{Name: "rescan", Value: d.RescanInterval, Usage: "full rescan period (±25 %)"},
			&cli.DurationFlag{Name: "poll", Value: d.PollInterval, Usage: "rescan period when watches are unavailable"},
			&cli.DurationFlag{Name: "remote-poll", Value: d.RemotePollInterval, Usage: "bucket listing period in pull/both mode"},
			&cli.IntFlag{Name: "max-delete", Value: d.MaxDelete, Usage: "refuse passes deleting more files (-1: no limit)"},
			&cli.Float64Flag{Name: "max-delete-percent", Value: d.MaxDeletePercent, Usage: "refuse passes deleting more than this % of tracked files (-1: no limit)"},
			&cli.BoolFlag{Name: "conflict-copy", Usage: "on a conflict write ours as NAME.sync-conflict-DATE-TIME-HOST.EXT"},
			&cli.BoolFlag{Name: "no-watch", Usage: "poll instead of using inotify"},
			&cli.IntFlag{Name: "concurrency", Value: d.Concurrency, Usage: "files uploaded at once"},
			&cli.StringFlag{Name: "part-size", Value: "16MiB", Usage: "minimum multipart part size"},
			&cli.StringFlag{Name: "multipart-threshold", Value: "16MiB", Usage: "larger files are uploaded in parts"},
			&cli.IntFlag{Name: "parts-in-flight", Value: d.PartsInFlight, Usage: "parts uploaded at once per file"},
			&cli.StringFlag{Name: "bytes-in-flight", Value: "256MiB", Usage: "global budget of payload bytes in flight"},
			jsonFlag,
		},
		Action: syncAction,
		Subcommands: []*cli.Command{{
			Name:  "status",
			Usage: "show the state of a running (or the last) sync daemon",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "state", Usage: "state directory of the daemon", EnvVars: []string{"BUCKETFS_SYNC_STATE"}},
				jsonFlag,
			},
			Action: syncStatusAction,
		}},
	})
}

func defaultSyncState() string {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "bucketfs", "sync")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "bucketfs", "sync")
	}
	return ".bucketfs-sync"
}

// syncConfig is the --config file.
type syncConfig struct {
	Remote  string                `yaml:"remote"`
	Folders []syncer.FolderConfig `yaml:"folders"`
}

func syncFolders(c *cli.Context) ([]syncer.FolderConfig, string, error) {
	var folders []syncer.FolderConfig
	remoteURL := ""
	if p := c.String("config"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("--config: %w", err)
		}
		var cfg syncConfig
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return nil, "", usagef("--config %s: %v", p, err)
		}
		folders, remoteURL = cfg.Folders, cfg.Remote
	}
	if c.NArg() > 1 {
		return nil, "", usagef("sync: %d arguments given, want LOCAL_DIR (usage: bucketfs sync LOCAL_DIR --bucket NAME)", c.NArg())
	}
	if c.NArg() == 1 {
		if c.String("bucket") == "" {
			return nil, "", usagef("sync %s: --bucket is required", c.Args().First())
		}
		folders = append(folders, syncer.FolderConfig{Path: c.Args().First(), Bucket: c.String("bucket"),
			Prefix: c.String("prefix"), Mode: syncer.Mode(c.String("mode"))})
	}
	if len(folders) == 0 {
		return nil, "", usagef("sync: give LOCAL_DIR --bucket NAME, or --config FILE")
	}
	for i := range folders {
		if folders[i].Mode == "" {
			folders[i].Mode = syncer.Mode(c.String("mode"))
		}
		switch folders[i].Mode {
		case syncer.ModePush, syncer.ModePull, syncer.ModeBoth:
		default:
			return nil, "", usagef("--mode %q: want push, pull or both", folders[i].Mode)
		}
		fi, err := os.Stat(folders[i].Path)
		if err != nil || !fi.IsDir() {
			return nil, "", usagef("sync: %s is not a directory", folders[i].Path)
		}
	}
	return folders, remoteURL, nil
}

func syncOptions(c *cli.Context) (syncer.Options, error) {
	o := syncer.DefaultOptions()
	o.Delay = c.Duration("delay")
	o.MaxDelay = c.Duration("max-delay")
	o.DeleteDelay = c.Duration("delete-delay")
	o.MinAge = c.Duration("min-age")
	if o.MinAge == 0 {
		o.MinAge = -1 // 0 on the command line means "no minimum age"
	}
	o.RescanInterval = c.Duration("rescan")
	o.PollInterval = c.Duration("poll")
	o.RemotePollInterval = c.Duration("remote-poll")
	o.MaxDelete = c.Int("max-delete")
	o.MaxDeletePercent = c.Float64("max-delete-percent")
	o.ConflictCopy = c.Bool("conflict-copy")
	o.NoWatch = c.Bool("no-watch")
	o.Concurrency = c.Int("concurrency")
	o.PartsInFlight = c.Int("parts-in-flight")
	var err error
	if o.PartSize, err = parseSize(c.String("part-size")); err != nil {
		return o, err
	}
	if o.MultipartThreshold, err = parseSize(c.String("multipart-threshold")); err != nil {
		return o, err
	}
	if o.BytesInFlight, err = parseSize(c.String("bytes-in-flight")); err != nil {
		return o, err
	}
	o.Logger = logger(c)
	o.IsRetryable = remote.IsRetryable
	o.RetryAfter = func(err error) time.Duration {
		var e *remote.Error
		if errors.As(err, &e) {
			return e.RetryAfter
		}
		return 0
	}
	return o, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func syncAction(c *cli.Context) error {
	folders, cfgRemote, err := syncFolders(c)
	if err != nil {
		return err
	}
	if c.String("remote") == "" && cfgRemote != "" {
		if err := c.Set("remote", cfgRemote); err != nil {
			return err
		}
	}
	opts, err := syncOptions(c)
	if err != nil {
		return err
	}
	state := c.String("state")
	if state == "" {
		state = defaultSyncState()
	}
	switch {
	case wantJSON(c):
		opts.Events = syncer.JSONSink(c.App.Writer)
	case c.App.Writer == os.Stdout && isTerminal(os.Stdout):
		opts.Events = syncer.NewTTYProgress(os.Stdout).Handle
	default:
		opts.Events = func(ev syncer.Event) {
			switch ev.Type {
			case syncer.EvError, syncer.EvConflict, syncer.EvHeld, syncer.EvWarning:
				msg := ev.Err
				if msg == "" {
					msg = ev.Message
				}
				fmt.Fprintf(c.App.ErrWriter, "sync: %s %s: %s\n", ev.Type, ev.Path, msg)
			}
		}
	}
	return withStore(c, func(st storage.ObjectStore) error {
		e, err := syncer.Open(st, state, folders, opts)
		if err != nil {
			return err
		}
		defer e.Close()
		ctx := storage.WithOrigin(c.Context, storage.Origin{Kind: "sync"})
		if c.Bool("once") {
			err := e.Once(ctx)
			if wantJSON(c) {
				_ = printJSONLine(c, map[string]any{"type": "done", "counters": e.Counters()})
			}
			return err
		}
		err = e.Run(ctx)
		if errors.Is(err, context.Canceled) {
			return nil // interrupted: a normal way to stop the daemon
		}
		return err
	})
}

func syncStatusAction(c *cli.Context) error {
	state := c.String("state")
	if state == "" {
		state = defaultSyncState()
	}
	s, err := syncer.ReadStatus(state)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%w: no sync state in %s (is a daemon running with --state %s?)", storage.ErrNotFound, state, state)
		}
		return err
	}
	if wantJSON(c) {
		return printJSON(c, s)
	}
	alive := unix.Kill(s.PID, 0) == nil
	w := c.App.Writer
	fmt.Fprintf(w, "daemon pid %d (%s), started %s, updated %s\n", s.PID, map[bool]string{true: "running", false: "not running"}[alive],
		timeText(s.Started), timeText(s.Updated))
	var cs []string
	for _, k := range []string{"payload_bytes", "puts", "parts", "copies", "deletes", "adopted"} {
		cs = append(cs, fmt.Sprintf("%s=%d", k, s.Counters[k]))
	}
	fmt.Fprintf(w, "counters: %s\n", strings.Join(cs, " "))
	for _, f := range s.Folders {
		watch := fmt.Sprintf("watching (%d watches)", f.Watches)
		if !f.Watching {
			watch = "polling"
		}
		fmt.Fprintf(w, "\n%s -> %s/%s [%s] %s\n", f.Path, f.Bucket, f.Prefix, f.Mode, watch)
		if f.WatchWarning != "" {
			fmt.Fprintf(w, "  warning: %s\n", f.WatchWarning)
		}
		fmt.Fprintf(w, "  tracked %d, queue %d, deletes held %d, last pass %s, last full scan %s\n",
			f.Tracked, f.Queue, f.HeldDeletes, timeText(f.LastPass), timeText(f.LastFullScan))
		if f.HeldReason != "" {
			fmt.Fprintf(w, "  deletes held: %s\n", f.HeldReason)
		}
		for _, e := range f.Errors {
			next := "when the file changes"
			if !e.Permanent {
				next = "retry " + timeText(e.NextRetry)
			}
			fmt.Fprintf(w, "  error %s: %s (attempt %d, %s)\n", e.Path, e.Error, e.Attempts, next)
		}
		for _, cf := range f.Conflicts {
			fmt.Fprintf(w, "  conflict %s: theirs %s kept, ours %s %s\n", cf.Path, cf.Theirs, cf.Ours, cf.Copy)
		}
	}
	return nil
}
