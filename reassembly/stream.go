package reassembly

import (
	"net/netip"
	"time"

	"github.com/shadowtap/shadowtap/reassembly/content"
)

// StreamConn parses one connection delivered as already-ordered byte
// streams with known roles (the eBPF sensor's path), sharing the packet
// path's HTTP logic. It is not safe for concurrent use.
type StreamConn struct {
	env   env
	stats Stats
	c     httpConn
}

// NewStreamConn returns a connection between client and server whose
// transactions go to sink. opts.HTTP configures the parsers and
// opts.Transactions, when set, is where HTTP/1 transactions are taken from
// (as for Run); the other fields of opts are ignored.
func NewStreamConn(client, server netip.AddrPort, opts Options, sink func(*Transaction)) *StreamConn {
	o := opts.withDefaults()
	s := &StreamConn{}
	s.env = env{http: o.HTTP, sink: sink, stats: &s.stats, txs: o.Transactions}
	if s.env.http.Decoders == nil {
		s.env.http.Decoders = new(content.Pool)
	}
	s.c.init(&s.env, client, server)
	s.c.fresh = [2]bool{true, true}
	s.stats.Flows = 1
	return s
}

// Client hands bytes the client sent, captured at ts. data is borrowed.
func (s *StreamConn) Client(data []byte, ts time.Time) { s.c.data(0, data, ts) }

// Server hands bytes the server sent, captured at ts. data is borrowed.
func (s *StreamConn) Server(data []byte, ts time.Time) { s.c.data(1, data, ts) }

// Gap reports n bytes lost from the client's (fromClient) or the server's
// stream.
func (s *StreamConn) Gap(fromClient bool, n int, ts time.Time) {
	d := 1
	if fromClient {
		d = 0
	}
	s.c.gap(d, n, ts)
}

// Close ends the connection and hands on what is left.
func (s *StreamConn) Close(ts time.Time) { s.c.close(ts) }

// Stats returns the connection's counters.
func (s *StreamConn) Stats() Stats { return s.stats }
