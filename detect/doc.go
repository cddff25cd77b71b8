// Package detect says what HTTP transactions mean: it keeps the endpoint
// inventory, compares it with OpenAPI specs, learns baselines and raises alerts.
package detect
