package main

import (
	"fmt"

	"github.com/bucketfs/bucketfs/remote"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// The remote client is wired here, apart from open.go, so the CLI's store
// selection stays independent of the HTTP package.
func init() {
	openRemote = openRemoteClient
	globalFlags = append(globalFlags, &cli.StringFlag{
		Name:    "ca-file",
		Usage:   "PEM bundle of CAs to trust for an https --remote (e.g. a self-signed serve --tls-cert)",
		EnvVars: []string{"BUCKETFS_CA_FILE"},
	})
}

// openRemoteClient builds a client of the server named by --remote
// (BUCKETFS_REMOTE) with the token of --token (BUCKETFS_TOKEN). A
// self-signed server certificate is trusted through --ca-file
// (BUCKETFS_CA_FILE, a PEM bundle).
func openRemoteClient(c *cli.Context) (storage.ObjectStore, error) {
	u := c.String("remote")
	opts := remote.DefaultClientOptions()
	opts.Token = c.String("token")
	opts.Logger = logger(c)
	opts.CAFile = c.String("ca-file")
	cl, err := remote.NewClient(u, opts)
	if err != nil {
		return nil, fmt.Errorf("--remote %s: %w", u, err)
	}
	return cl, nil
}
