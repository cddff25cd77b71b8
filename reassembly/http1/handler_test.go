package http1

import (
	"reflect"
	"testing"
)

// handlerCollector is a collector used through Options.Handler.
type handlerCollector struct{ c collector }

func (h *handlerCollector) HTTPMessage(m *Message) { mm := *m; h.c.msgs = append(h.c.msgs, &mm) }
func (h *handlerCollector) RequestMethod() string {
	h.c.asked++
	if len(h.c.methods) == 0 {
		return ""
	}
	m := h.c.methods[0]
	h.c.methods = h.c.methods[1:]
	return m
}

// TestHandler: a Handler gets what OnMessage and RequestMethod get, and
// takes their place when both are set.
func TestHandler(t *testing.T) {
	// The first response answers a HEAD: its Content-Length frames no
	// body, so the second response follows at once.
	stream := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi")
	var plain collector
	plain.methods = []string{"HEAD", "POST"}
	p := NewResponseParser(plain.opts(Options{}))
	p.Feed(stream, t0)
	p.Close(t0)

	var h handlerCollector
	h.c.methods = []string{"HEAD", "POST"}
	var unused collector
	opts := unused.opts(Options{})
	opts.Handler = &h
	p = NewResponseParser(opts)
	p.Feed(stream, t0)
	p.Close(t0)

	if len(unused.msgs) != 0 || unused.asked != 0 {
		t.Errorf("OnMessage/RequestMethod called with a Handler: %d messages, %d questions", len(unused.msgs), unused.asked)
	}
	if got, want := summaries(h.c.msgs), summaries(plain.msgs); !reflect.DeepEqual(got, want) || len(want) != 2 {
		t.Errorf("Handler got %q, OnMessage %q (want 2 messages)", got, want)
	}
	if h.c.asked != 2 || plain.asked != 2 {
		t.Errorf("RequestMethod asked %d times through the Handler, %d through the option; want 2", h.c.asked, plain.asked)
	}
}
