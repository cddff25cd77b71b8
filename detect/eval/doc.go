// Package eval scores a shadowtap report against the ground truth of a
// simulated capture: endpoint templates, shadow and unseen operations,
// labelled incidents detected or missed, and false alerts.
//
// It reads the simulator's truth.json with its own small structs (package
// detect must not import capture/...) and the report as a detect.Report.
// Score is pure: the same truth and report always give the same Result.
//
// # Matching rules
//
// Paths are compared after NormalizePath, which replaces every parameter
// `{name}` by `{}`: parameter names are free per the contract, so
// /orders/{id} and /orders/{orderId} are the same template. An endpoint,
// unseen entry or alert whose host is neither empty nor the truth's host
// never matches a truth operation.
//
//   - Templates: every reported endpoint is a positive; it is a true
//     positive when its (method, normalised path) is a truth operation with
//     used=true not already matched by an earlier endpoint (duplicates are
//     false positives). Truth operations used but never matched are false
//     negatives.
//   - Concrete ids: the number of distinct reported paths (endpoints and
//     alerts) with a literal part of a segment that is a UUID or holds an
//     e-mail address (`@` or `%40`), or with a token (split on the
//     characters of "-_.~,;:@+=") that is all digits, has a run of 4 or more
//     digits, or is a hex string of 8 or more characters with both a digit
//     and a letter.
//   - Shadow: reported endpoints with documented=false against truth
//     operations with used && !documented.
//   - Unseen: report.unseen against truth operations with documented && !used.
//   - Incidents (negative=false only): an alert matches an incident when
//     its kind is the incident's kind or in its also list; its (method,
//     normalised path) is one of the incident's endpoints, or it has neither
//     method nor path (an alert about a client or principal); where the truth
//     names clients or a principal, the alert's client is one of the clients
//     or its principal is the principal; and its time — evidence.detected_at,
//     else first_seen — lies in [first_seen − 1 ms, last_seen + 5 min] of the
//     incident (1 ms absorbs microsecond capture timestamps, 5 min a detector
//     that decides when a window closes). The incident is detected when at
//     least one alert matches; time-to-detect is the earliest matching alert
//     time minus the incident's first_seen, never below zero.
//   - False alerts: alerts matching no labelled incident, except that a
//     shadow_endpoint alert on a truth operation with used && !documented is
//     true (the shadow columns score those). A false alert is "on a hard
//     negative" when it matches a negative incident's endpoints and
//     clients/principal as above, whatever its kind and time.
package eval
