// Package functions runs user code on file events, on cron schedules and on
// demand: the function registry (Cognite-shaped records, deploy checks), the
// process runtime ("fnproc/1": one OS process per call, request JSON on
// stdin, result JSON on fd 3, stdout/stderr captured as the call's logs), the
// embedded Python shim (Cognite `handle` style and CIM `fn(metadata, event,
// service)` style), calls with their logs and responses, cron schedules,
// triggers fed by the store's event outbox, and the logic of the Access
// Service (per-call tokens, rate limits, number generators, file uploads).
//
// Vocabulary: a Function is deployed code; a Call is one run of it; a
// Trigger binds a function to bucket events; a Delivery is one (event,
// function) pair the dispatcher must bring to success at least once; a
// Schedule fires a function by cron.
//
// Durability: every record lives in the shared metadata.DB under the key
// prefix "fn/"; a call's status, response and logs are committed before its
// delivery is marked succeeded, so a crash at any point re-delivers the event
// (at least once) and never loses a result that was reported.
//
// Loops: writes made through the Access Service carry the call's origin
// (hop count + 1); events at the hop limit (16) and a function's own events
// (unless the trigger allows recursion) are not delivered; a per-(function,
// key) circuit breaker catches loops the hop count cannot see, and
// OriginResolver lets the mount attribute writes of a call's processes.
//
// Concurrency: Service is safe for concurrent use. The dispatcher and the
// scheduler run in goroutines owned by Service.Start and stop with Close.
//
// Imports: storage and metadata only; never net/http (the HTTP endpoints for
// the management API and the Access Service live in package remote).
package functions
