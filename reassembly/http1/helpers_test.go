package http1

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"strings"
	"time"

	"github.com/andybalholm/brotli"
)

var t0 = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

// collector gathers the messages a parser emits.
type collector struct {
	msgs    []*Message
	methods []string // answers for RequestMethod, consumed in order
	asked   int
}

func (c *collector) opts(o Options) Options {
	o.OnMessage = func(m *Message) { mm := *m; c.msgs = append(c.msgs, &mm) }
	o.RequestMethod = func() string {
		c.asked++
		if len(c.methods) == 0 {
			return ""
		}
		m := c.methods[0]
		c.methods = c.methods[1:]
		return m
	}
	return o
}

func flagString(f MsgFlags) string {
	var parts []string
	for _, x := range []struct {
		f MsgFlags
		s string
	}{{MsgGap, "gap"}, {MsgTruncated, "trunc"}, {MsgBadFraming, "badframing"}, {MsgDecodeError, "decerr"}, {MsgIncomplete, "incomplete"}} {
		if f&x.f != 0 {
			parts = append(parts, x.s)
		}
	}
	return strings.Join(parts, "|")
}

// summary renders a message compactly for table comparisons.
func summary(m *Message) string {
	var b strings.Builder
	if m.Request {
		fmt.Fprintf(&b, "%s %s %s", m.Method, m.Target, m.Version)
	} else {
		fmt.Fprintf(&b, "%s %d %s", m.Version, m.Status, m.Reason)
	}
	fmt.Fprintf(&b, " h=%d bb=%d body=%q", len(m.Headers), m.BodyBytes, m.Body)
	if len(m.Trailers) > 0 {
		fmt.Fprintf(&b, " tr=%d", len(m.Trailers))
	}
	if m.Flags != 0 {
		fmt.Fprintf(&b, " [%s]", flagString(m.Flags))
	}
	if m.Upgrade {
		b.WriteString(" upgrade")
	}
	return b.String()
}

func summaries(ms []*Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = summary(m)
	}
	return out
}

// run feeds the pieces to a fresh parser (and closes it when close is set).
func run(request bool, o Options, methods []string, pieces [][]byte, close bool) ([]*Message, Stats, bool) {
	c := &collector{methods: append([]string(nil), methods...)}
	var p *Parser
	if request {
		p = NewRequestParser(c.opts(o))
	} else {
		p = NewResponseParser(c.opts(o))
	}
	alive := true
	for _, pc := range pieces {
		// Feed a copy and scribble over it afterwards: the parser must
		// not keep references to fed bytes.
		cp := append([]byte(nil), pc...)
		alive = p.Feed(cp, t0)
		for i := range cp {
			cp[i] = 'X'
		}
	}
	if close {
		p.Close(t0)
	}
	return c.msgs, p.Stats(), alive
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func zlibbed(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func rawDeflated(s string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func brotlied(s string) string {
	var b bytes.Buffer
	w := brotli.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func chunked(body string, size int) string {
	var b strings.Builder
	for len(body) > 0 {
		n := min(size, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, body[:n])
		body = body[n:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}
