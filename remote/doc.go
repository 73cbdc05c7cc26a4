// Package remote is the only package of bucketfs that speaks HTTP: the
// server of the Invenio-Files-REST compatible API (plus our additive
// extensions, documented in the README's HTTP API section),
// bearer tokens with Invenio's action scopes, background housekeeping, and
// the Go client that implements storage.ObjectStore over the same wire format.
//
// Vocabulary: a "route" is one of the spec's three URL shapes (location,
// bucket, object); a "selector" is the query flag that picks the operation on
// a route (versions, uploads, uploadId, versionId, and our copy, move,
// restore, attrs, state); a "hidden" permission failure answers 404 so the
// resource's existence is not revealed, a "visible" one 401 (anonymous) or
// 403 (authenticated).
//
// Concurrency: a Server is safe for concurrent use by many connections; it
// keeps no per-request state outside the request. Durability is the store's:
// a 2xx answer to a write is sent only after the store has committed it, and
// a failed or short upload never becomes visible.
//
// Server files: server.go (options, routing, auth checks), server_bucket.go,
// server_object.go, server_download.go, server_multipart.go,
// server_extensions.go (copy, move, restore, attrs), server_events.go
// (events, status, token API), server_json.go (wire JSON), server_mime.go,
// server_params.go (query/header parsing, body and deadline wrappers),
// errors.go (StatusOf: the one error -> status mapping), tokens.go
// (TokenStore under "tok/"), tokens_remote.go, housekeeping.go.
//
// Deviations from upstream Invenio (each documented where it happens):
// keys follow storage.ValidateKey (no "..", NUL, empty segments); a
// delete-marker version asked for by versionId answers 404 instead of
// upstream's 500; a multipart upload whose size is an exact multiple of the
// part size can be completed (upstream cannot, spec §8.3); stale incomplete
// uploads are expired (upstream expires completed ones only, spec §8.5);
// byte ranges are on by default; every error body is JSON, including 416.
//
// remote must not import fusefs, syncer or functions (imports point down).
package remote
