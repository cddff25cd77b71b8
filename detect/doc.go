// Package detect says what HTTP transactions mean: it keeps the endpoint
// inventory, compares it with OpenAPI specs, learns baselines and raises alerts.
//
// An Engine consumes transactions in capture-time order on one goroutine.
// Observing one has two halves: Engine.Prepare computes what depends on
// the transaction alone (secret and personal-data scans, authentication
// and principal, path, query, host) and may run on many goroutines at
// once; Engine.ObservePrepared applies the result to the engine's state,
// on the engine's goroutine. Engine.Observe is the two in one.
package detect
