// Package storetest is the contract suite of storage.ObjectStore: one set of
// tests that every implementation (the local storage.Store, the HTTP client
// remote.Client against a real server) must pass, in the manner of restic's
// backend tests.
//
// The suite uses only the ObjectStore interface and the optional abilities
// (storage.Mover, storage.EventSource, storage.BlobOpener and a Snapshot
// method) found by type assertion; a subtest of an ability skips only when
// the store lacks it. It asserts behaviour (contents, checksums, versions,
// sizes, sentinel errors matched with errors.Is), never timing.
//
// It must not import the implementations it tests: only storage.
package storetest
