package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// commands is filled by the init functions of the command files.
var commands []*cli.Command

// globalFlags are extra global flags that other files add in their init
// (e.g. --ca-file of the remote client).
var globalFlags []cli.Flag

// Exit codes, stable for scripts.
const (
	exitOK          = 0
	exitError       = 1 // anything not listed below
	exitUsage       = 2 // bad command line
	exitNotFound    = 3
	exitConflict    = 4 // exists, conflict (If-Match, completed upload), not empty
	exitLocked      = 5 // bucket locked, permission denied
	exitLimit       = 6 // quota, maximum file size, no space
	exitInvalid     = 7 // invalid key or argument, short body
	exitCorrupt     = 8 // checksum mismatch (fsck found damage)
	exitUnavailable = 9 // the store (server) cannot be reached
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the CLI and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, intersperse(app, args))
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "bucketfs: %v\n", err)
	return exitCode(err)
}

// exitCode is the one mapping from errors to exit codes.
func exitCode(err error) int {
	var ue *usageError
	var ec cli.ExitCoder // only the library makes these (unknown command)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &ec):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, storage.ErrNotFound):
		return exitNotFound
	case errors.Is(err, storage.ErrExists), errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotEmpty):
		return exitConflict
	case errors.Is(err, storage.ErrLocked), errors.Is(err, storage.ErrPermission):
		return exitLocked
	case errors.Is(err, storage.ErrQuotaExceeded), errors.Is(err, storage.ErrTooLarge), errors.Is(err, storage.ErrNoSpace):
		return exitLimit
	case errors.Is(err, storage.ErrInvalidKey), errors.Is(err, storage.ErrInvalid), errors.Is(err, storage.ErrShortBody):
		return exitInvalid
	case errors.Is(err, storage.ErrChecksum):
		return exitCorrupt
	case errors.Is(err, storage.ErrUnavailable):
		return exitUnavailable
	}
	return exitError
}

// usageError is a bad command line (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "bucketfs",
		Usage:     "versioned buckets as drives, background sync, functions on file events",
		Reader:    stdin,
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "data directory of the local store", EnvVars: []string{"BUCKETFS_DATA"}, Value: defaultDataDir(), DefaultText: "$XDG_DATA_HOME/bucketfs or ~/.local/share/bucketfs"},
			&cli.StringFlag{Name: "remote", Usage: "URL of a bucketfs server to use instead of the data directory", EnvVars: []string{"BUCKETFS_REMOTE"}},
			&cli.StringFlag{Name: "token", Usage: "access token for --remote", EnvVars: []string{"BUCKETFS_TOKEN"}},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "warn", EnvVars: []string{"BUCKETFS_LOG_LEVEL"}},
			jsonFlag,
		},
		Commands:        sortedCommands(),
		HideHelpCommand: true,
		// Errors are printed and mapped to exit codes by run, never by the
		// library (which would call os.Exit from inside a command).
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{err.Error()}
		},
		Before: func(c *cli.Context) error {
			_, err := logLevel(c.String("log-level"))
			return err
		},
	}
	app.Flags = append(app.Flags, globalFlags...)
	for _, c := range app.Commands {
		setUsageErrors(c)
	}
	return app
}

// sortedCommands lists the commands by name for the help text.
func sortedCommands() []*cli.Command {
	cs := slices.Clone(commands)
	cs = append(cs, objectCommand(commands))
	slices.SortFunc(cs, func(a, b *cli.Command) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

// setUsageErrors makes flag errors of every (sub)command usage errors.
func setUsageErrors(c *cli.Command) {
	if c.OnUsageError == nil {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return &usageError{err.Error()} }
	}
	for _, s := range c.Subcommands {
		setUsageErrors(s)
	}
}

func logLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, usagef("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// logger returns the logger of the command line's --log-level, on stderr.
func logger(c *cli.Context) *slog.Logger {
	l, _ := logLevel(c.String("log-level"))
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: l}))
}

// nArgs checks the number of positional arguments.
func nArgs(c *cli.Context, lo, hi int) error {
	if n := c.NArg(); n < lo || n > hi {
		want := fmt.Sprint(lo)
		if hi != lo {
			want = fmt.Sprintf("%d to %d", lo, hi)
		}
		return usagef("%s: %d arguments given, want %s (usage: %s %s)", c.Command.FullName(), n, want, c.Command.FullName(), c.Command.ArgsUsage)
	}
	return nil
}

// splitPath splits "BUCKET/KEY" into its bucket and key; the key may be
// empty when allowEmptyKey.
func splitPath(p string, allowEmptyKey bool) (bucket, key string, err error) {
	bucket, key, _ = strings.Cut(p, "/")
	if bucket == "" {
		return "", "", usagef("%q: want BUCKET/KEY", p)
	}
	if key == "" && !allowEmptyKey {
		return "", "", usagef("%q: want BUCKET/KEY, the key is missing", p)
	}
	return bucket, key, nil
}
