// Package http1 parses HTTP/1.0 and HTTP/1.1 messages incrementally, as an
// observer: it records what was sent rather than normalising it, and it can
// resynchronise after a gap in the byte stream.
package http1
