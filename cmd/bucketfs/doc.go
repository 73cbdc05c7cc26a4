// Command bucketfs is the one binary of bucketfs: the object store on a local
// data directory (or, with --remote, a bucketfs server), the server, the
// mount, the sync daemon and the functions runtime.
//
// This package only wires: flags become options, options become components.
// Each command lives in its own file and registers itself by appending to
// commands in that file's init, so a helper adding `serve` or `mount` never
// edits main.go. Errors become exit codes in exactly one place (exitCode).
//
// It may import every bucketfs package; nothing imports it.
package main
