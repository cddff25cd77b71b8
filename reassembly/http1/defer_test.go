package http1

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly/content"
)

// TestDeferDecode: with DeferDecode, encoded bodies come as Encoded, whose
// Decode gives the Body an eager parser gives; identity bodies are as
// before. With SkipBinary, encoded bodies of binary types get no sample.
func TestDeferDecode(t *testing.T) {
	_, resp := apiStreams(40)
	png := gzipped(string(bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 100)))
	for _, ct := range []string{"image/png", "application/octet-stream; x=1", "font/woff2", "image/svg+xml", "text/html"} {
		resp = fmt.Appendf(resp, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", ct, len(png), png)
	}
	resp = fmt.Appendf(resp, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\nabcd")
	pool := new(content.Pool)
	var eager, lazy collector
	pe := NewResponseParser(eager.opts(Options{Decoders: pool}))
	pl := NewResponseParser(lazy.opts(Options{Decoders: pool, DeferDecode: true, SkipBinary: true}))
	for _, s := range segments(resp, 900) {
		pe.Feed(s, t0)
		pl.Feed(s, t0)
	}
	pe.Close(t0)
	pl.Close(t0)
	if len(eager.msgs) != 46 || len(lazy.msgs) != 46 {
		t.Fatalf("%d and %d messages, want 46", len(eager.msgs), len(lazy.msgs))
	}
	deferred := 0
	for i, m := range lazy.msgs {
		e := eager.msgs[i]
		if m.Encoded != nil {
			deferred++
			if m.Body != nil {
				t.Errorf("message %d: both Body and Encoded", i)
			}
			b, trunc, err := m.Encoded.Decode()
			if !bytes.Equal(b, e.Body) || trunc != (e.Flags&MsgTruncated != 0) || (err != nil) != (e.Flags&MsgDecodeError != 0) {
				t.Errorf("message %d: decoded %q (truncated %v, err %v), eager %q (%s)", i, b, trunc, err, e.Body, flagString(e.Flags))
			}
			continue
		}
		binary := i >= 40 && i < 43
		if binary {
			if m.Body != nil {
				t.Errorf("message %d: binary body sampled", i)
			}
			continue
		}
		if g, w := summary(m), summary(e); g != w {
			t.Errorf("message %d: %s\neager: %s", i, g, w)
		}
	}
	st := pl.Stats()
	if want := uint64(10 + 2); st.DeferredBodies != want || uint64(deferred) != want {
		t.Errorf("DeferredBodies %d, %d deferred, want %d", st.DeferredBodies, deferred, want)
	}
	if st.UndecodedBodies != 3 {
		t.Errorf("UndecodedBodies %d, want 3", st.UndecodedBodies)
	}
}
