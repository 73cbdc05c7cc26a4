package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/remote"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "serve",
		Usage: "serve the data directory over HTTP (Invenio-Files-REST compatible API)",
		Description: "On first start an admin token is created and stored (mode 0600) in DATA/admin.token.\n" +
			"SIGTERM or SIGINT stop accepting connections, let in-flight requests finish (up to\n" +
			"--shutdown-timeout) and close the store.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:7480", Usage: "address to listen on"},
			&cli.StringFlag{Name: "prefix", Value: "/api", Usage: "URL path before /files, /events, /status"},
			&cli.StringFlag{Name: "base-url", Usage: "scheme://host used in response links (behind a proxy)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "PEM certificate file (serve HTTPS)"},
			&cli.StringFlag{Name: "tls-key", Usage: "PEM private key file (serve HTTPS)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, Usage: "how long in-flight requests may take at shutdown"},
			&cli.BoolFlag{Name: "no-housekeeping", Usage: "do not run multipart expiry, blob GC, fixity checks and value-log GC"},
			&cli.StringFlag{Name: "mount", Usage: "also mount the buckets at `MNT` from this process (a data directory has one opener)"},
			&cli.BoolFlag{Name: "show-versions", Usage: "with --mount: list the hidden .versions folders"},
			&cli.BoolFlag{Name: "allow-other", Usage: "with --mount: let other users use the mount"},
		},
		Action: serveAction,
	})
}

func serveAction(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	if c.String("remote") != "" {
		return usagef("serve works on a data directory (--data), not on --remote")
	}
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	log := logger(c)
	st, err := openLocal(c)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeStoreBounded(st); cerr != nil {
			log.Error("close store", "err", cerr)
		}
	}()
	opts := remote.DefaultServerOptions()
	opts.Prefix = c.String("prefix")
	opts.BaseURL = c.String("base-url")
	opts.Logger = log
	srv := remote.NewServer(st, opts)

	tokPath, created, err := ensureAdminToken(c.Context, srv.Tokens(), c.String("data"))
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(c.App.Writer, "created admin token: %s\n", tokPath)
	} else {
		fmt.Fprintf(c.App.Writer, "admin token: %s\n", tokPath)
	}

	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := srv.HTTPServer(ln.Addr().String())
	scheme := "http"
	if cert != "" {
		scheme = "https"
	}
	fmt.Fprintf(c.App.Writer, "serving %s://%s%s/files\n", scheme, ln.Addr(), srv.Prefix())

	// functions (issue 6): management API, Access Service, trigger dispatcher
	// and scheduler run in the process that owns the data directory.
	fnBase := scheme + "://" + ln.Addr().String()
	if opts.BaseURL != "" {
		fnBase = opts.BaseURL
	}
	originOf, stopFunctions, err := startFunctionsServe(c.Context, c, st, srv, fnBase)
	if err != nil {
		return err
	}
	defer stopFunctions()

	if c.String("mount") != "" {
		unmount, err := mountFromServe(c, st, originOf, log)
		if err != nil {
			return err
		}
		// Deferred calls run last-in first-out: the mount goes before the
		// functions stop and the store closes.
		defer unmount()
	}

	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	if !c.Bool("no-housekeeping") {
		srv.StartHousekeeping(ctx, remote.DefaultHousekeepingOptions())
	}
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- hs.ServeTLS(ln, cert, key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-c.Context.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", c.Duration("shutdown-timeout"))
	sctx, scancel := context.WithTimeout(context.Background(), c.Duration("shutdown-timeout"))
	defer scancel()
	if err := hs.Shutdown(sctx); err != nil {
		// Requests still running past the deadline are cut; the store's
		// commits are atomic, so an unacknowledged upload leaves nothing.
		log.Warn("shutdown deadline passed; closing remaining connections", "err", err)
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("serve", "err", err)
	}
	if err := srv.WaitBackground(sctx); err != nil {
		log.Warn("multipart completions still running at close", "err", err)
	}
	fmt.Fprintln(c.App.Writer, "stopped")
	return nil
}

// ensureAdminToken keeps DATA/admin.token valid: it creates an admin token
// when the file is missing or its token no longer verifies.
func ensureAdminToken(ctx context.Context, ts *remote.TokenStore, dataDir string) (string, bool, error) {
	path := filepath.Join(dataDir, "admin.token")
	if data, err := os.ReadFile(path); err == nil {
		if _, err := ts.Lookup(ctx, strings.TrimSpace(string(data))); err == nil {
			return path, false, nil
		}
	}
	secret, _, err := ts.Create(ctx, remote.TokenSpec{Name: "admin (serve)", Admin: true})
	if err != nil {
		return "", false, fmt.Errorf("create admin token: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(secret+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return path, true, nil
}
