package bpf

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sort"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// Run reads events until ctx ends or the sensor is closed, and hands each
// transaction to emit (on Run's goroutine; the transaction belongs to emit).
// When ctx ends, the records the ring holds at that moment are read first
// (a MIRROR or CLOSE record still in it would otherwise be lost, and a
// mirrored client's half-seen requests reported). Connections still open
// at the end are closed and their transactions emitted. It returns nil on
// a clean stop.
func (s *Sensor) Run(ctx context.Context, emit func(*reassembly.Transaction)) error {
	stop := make(chan struct{})
	defer close(stop)
	d, drains := s.reader.(drainer)
	go func() {
		select {
		case <-ctx.Done():
			if drains {
				d.drain()
			} else {
				_ = s.reader.Close()
			}
		case <-stop:
		}
	}()
	if drains {
		defer s.reader.Close()
	}
	var onExec func(uint32)
	if s.k != nil {
		onExec = s.k.exec
	}
	a := newAssembler(s.opts, s.clock, &s.stats, emit, onExec)
	if s.k != nil {
		a.lookup = s.k.connMeta
	}
	for {
		rec, err := s.reader.Read()
		if err != nil {
			a.closeAll()
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		a.handle(rec)
	}
}

// Drain reads records until ctx ends or the sensor is closed, and drops
// them unparsed (only Stats.Records counts them): the cost of the programs
// and the ring without the user-space work, for overhead measurements. Run
// and Drain are alternatives: call one of them once.
func (s *Sensor) Drain(ctx context.Context) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = s.reader.Close()
		case <-stop:
		}
	}()
	for {
		if _, err := s.reader.Read(); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		s.stats.records.Add(1)
	}
}

// assembler turns records into per-connection ordered byte streams for
// reassembly.StreamConn. It is used by one goroutine.
type assembler struct {
	opts   Options
	clock  func(uint64) time.Time
	stats  *userStats
	emit   func(*reassembly.Transaction)
	onExec func(uint32)
	// lookup reads a connection's generation and meta from the kernel's
	// table, for data of a connection this side has forgotten (evicted or
	// swept idle) while its CONN record went by long ago; nil for replays.
	lookup  func(sock uint64) (gen uint64, m meta, ok bool)
	conns   map[uint64]*conn // by struct sock address
	cgroups *containerCache
	ev      event
	now     uint64 // newest event time
	sweepAt uint64
}

// conn is one TCP connection as seen from one local socket.
type conn struct {
	gen           uint64
	local, remote netip.AddrPort
	role          uint8
	last          uint64
	pid           uint32
	comm          string
	container     string
	// mirrored: the client end of a local connection whose server end is
	// traced too (a MIRROR record): nothing of it is parsed or emitted.
	mirrored bool
	st       [2]stream // raw socket bytes, TLS plaintext
}

// stream is one byte stream pair (both directions) of a connection.
type stream struct {
	sc        *reassembly.StreamConn
	next      [2]uint64 // next expected offset per direction
	encrypted bool      // raw bytes are TLS records: not parsed
	seen      bool
}

func newAssembler(opts Options, clock func(uint64) time.Time, st *userStats, emit func(*reassembly.Transaction), onExec func(uint32)) *assembler {
	return &assembler{
		opts:    opts.withDefaults(),
		clock:   clock,
		stats:   st,
		emit:    emit,
		onExec:  onExec,
		conns:   make(map[uint64]*conn),
		cgroups: newContainerCache("/proc", 4096),
	}
}

func (a *assembler) handle(rec []byte) {
	a.stats.records.Add(1)
	e := &a.ev
	if err := e.decode(rec); err != nil {
		a.stats.badRecords.Add(1)
		return
	}
	if e.ts > a.now {
		a.now = e.ts
	}
	switch e.kind {
	case kindData:
		a.stats.dataBytes.Add(uint64(len(e.data)))
		a.data(e)
	case kindConn:
		a.connRecord(e)
	case kindMirror:
		a.mirror(e)
	case kindClose:
		a.closeEvent(e)
	case kindExec:
		if a.onExec != nil {
			a.onExec(e.tgid)
		}
	default:
		a.stats.badRecords.Add(1)
	}
	if a.now >= a.sweepAt {
		a.sweepIdle()
	}
}

// connRecord starts a connection from its CONN record (sent before its
// first data record); a repeated one (two CPUs sent it at once) changes
// nothing.
func (a *assembler) connRecord(e *event) {
	c := a.conns[e.conn]
	if c != nil && c.gen == e.gen {
		return
	}
	a.start(e)
}

// start begins following the connection described by e's meta fields,
// ending the one that had its socket address before.
func (a *assembler) start(e *event) *conn {
	if old := a.conns[e.conn]; old != nil {
		// The socket address was reused: the old connection is over.
		a.finish(e.conn, old, nil, e.ts)
	}
	if len(a.conns) >= a.opts.MaxConnections {
		a.evict()
	}
	c := &conn{gen: e.gen, role: e.role, pid: e.tgid, comm: commString(&e.comm), last: e.ts}
	c.local, c.remote = e.endpoints()
	c.container = a.cgroups.lookup(e.cgroup, e.tgid)
	a.conns[e.conn] = c
	a.stats.conns.Add(1)
	return c
}

func (a *assembler) data(e *event) {
	c := a.conns[e.conn]
	if c == nil || c.gen != e.gen {
		// No CONN record for this generation: this side forgot the
		// connection (evicted, idle), or the ring lost the record. The
		// kernel's table still has it while the socket lives.
		var m meta
		if a.lookup != nil {
			if gen, km, ok := a.lookup(e.conn); ok && gen == e.gen {
				m = km
			}
		}
		if m.family == 0 {
			a.stats.unknownConns.Add(1)
		}
		e.metaFrom(&m)
		c = a.start(e)
	}
	c.last = e.ts
	if c.mirrored {
		// In flight when the kernel stopped copying: the server's socket
		// reports these bytes.
		a.stats.delivered.Add(uint64(len(e.data)))
		return
	}
	tls := 0
	if e.flags&flagTLS != 0 {
		tls = 1
	}
	s := &c.st[tls]
	if !s.seen {
		s.seen = true
		s.encrypted = tls == 0 && e.offset == 0 && looksTLS(e.data)
	}
	if s.encrypted {
		a.stats.delivered.Add(uint64(len(e.data)))
		return
	}
	if s.sc == nil {
		a.open(c, s, tls == 1, e)
	}
	a.deliver(c, s, e)
}

// open decides the roles (from accept/connect, else from the first bytes,
// else from the ports) and starts the parser.
func (a *assembler) open(c *conn, s *stream, tls bool, e *event) {
	if c.role == roleUnknown {
		c.role = guessRole(e.dir, e.data, c.local.Port(), c.remote.Port())
	}
	client, server := c.local, c.remote
	if c.role == roleServer {
		client, server = c.remote, c.local
	}
	// One Process for all the stream's transactions: they only read it.
	proc, container := &reassembly.Process{PID: c.pid, Comm: c.comm}, c.container
	s.sc = reassembly.NewStreamConn(client, server, a.opts.HTTP, func(t *reassembly.Transaction) {
		if c.mirrored {
			// Begun before the MIRROR record: the server's view has it.
			if p := a.opts.HTTP.Transactions; p != nil {
				p.Put(t)
			}
			return
		}
		t.Process = proc
		t.Container = container
		t.TLS = tls
		a.stats.transactions.Add(1)
		a.emit(t)
	})
}

// deliver feeds one chunk. The chunks of one call come in order from one
// CPU, and calls on one socket and direction rarely overlap, so a chunk
// beyond the next expected offset means the bytes between were lost
// (declared a gap at once), and one before it is a late duplicate
// (dropped). After a call's last chunk, bytes up to the call's end that
// were not copied (the per-call cap) are a gap too.
func (a *assembler) deliver(c *conn, s *stream, e *event) {
	d := e.dir & 1
	data := e.data
	if e.offset > s.next[d] {
		a.gapTo(c, s, d, e.offset, e.ts)
	}
	if e.offset < s.next[d] {
		skip := s.next[d] - e.offset
		if skip >= uint64(len(data)) {
			a.stats.overlapBytes.Add(uint64(len(data)))
			data = nil
		} else {
			a.stats.overlapBytes.Add(skip)
			data = data[skip:]
		}
	}
	a.feed(c, s, d, data, e.ts)
	if e.flags&flagLast != 0 {
		a.gapTo(c, s, d, e.end, e.ts)
	}
}

// gapTo declares the bytes up to off lost.
func (a *assembler) gapTo(c *conn, s *stream, d uint8, off uint64, ts uint64) {
	if off <= s.next[d] {
		return
	}
	n := off - s.next[d]
	a.stats.gaps.Add(1)
	a.stats.gapBytes.Add(n)
	if s.sc != nil {
		s.sc.Gap(a.fromClient(c, d), int(min(n, 1<<40)), a.clock(ts))
	}
	s.next[d] = off
}

func (a *assembler) feed(c *conn, s *stream, d uint8, data []byte, ts uint64) {
	s.next[d] += uint64(len(data))
	a.stats.delivered.Add(uint64(len(data)))
	if s.sc == nil || len(data) == 0 {
		return
	}
	if a.fromClient(c, d) {
		s.sc.Client(data, a.clock(ts))
	} else {
		s.sc.Server(data, a.clock(ts))
	}
}

// fromClient says whether bytes moving in direction d (seen from the
// local socket) were sent by the connection's client.
func (a *assembler) fromClient(c *conn, d uint8) bool {
	return (d == dirEgress) == (c.role == roleClient)
}

// closeEvent ends a connection: the record carries the final offsets of
// the four streams, so bytes lost at the end become gaps too.
func (a *assembler) closeEvent(e *event) {
	c := a.conns[e.conn]
	if c == nil || c.gen != e.gen {
		// Every data record of the connection was lost (a ring that
		// filled before its first record): its bytes are one gap per
		// stream, known from the final offsets.
		if len(e.data) >= 32 {
			for i := 0; i < 4; i++ {
				if n := leUint64(e.data[8*i:]); n > 0 {
					a.stats.gaps.Add(1)
					a.stats.gapBytes.Add(n)
				}
			}
		}
		return
	}
	var ends [4]uint64
	if len(e.data) >= 32 {
		for i := range ends {
			ends[i] = leUint64(e.data[8*i:])
		}
		a.finish(e.conn, c, &ends, e.ts)
		return
	}
	a.finish(e.conn, c, nil, e.ts)
}

// mirror stops following a connection whose server end is traced too (a
// MIRROR record): the same bytes come from the server's socket, so the
// client's view is dropped — its parsers close without emitting what they
// had begun, and records still in flight are skipped until its close.
func (a *assembler) mirror(e *event) {
	c := a.conns[e.conn]
	if c == nil || c.gen != e.gen {
		// Forgotten since its CONN record (evicted): a stub keeps the
		// records in flight and its close quiet.
		if old := c; old != nil {
			a.finish(e.conn, old, nil, e.ts)
		}
		c = &conn{gen: e.gen, last: e.ts}
		a.conns[e.conn] = c
	}
	if c.mirrored {
		return
	}
	c.mirrored = true
	a.stats.mirrored.Add(1)
	for i := range c.st {
		if s := &c.st[i]; s.sc != nil {
			s.sc.Close(a.clock(e.ts))
			s.sc = nil
		}
	}
}

// finish declares the bytes missing at the end (when the final offsets are
// known) as gaps, closes the parsers and forgets the connection.
func (a *assembler) finish(key uint64, c *conn, ends *[4]uint64, ts uint64) {
	if c.mirrored {
		delete(a.conns, key)
		return
	}
	if c.st[0].encrypted && !c.st[1].seen {
		// TLS records and no plaintext from OpenSSL: encrypted, not visible.
		a.stats.encrypted.Add(1)
	}
	for i := range c.st {
		s := &c.st[i]
		for d := uint8(0); d < 2; d++ {
			if ends != nil && !s.encrypted {
				a.gapTo(c, s, d, ends[2*i+int(d)], ts)
			}
		}
		if s.sc != nil {
			s.sc.Close(a.clock(ts))
			a.stats.parseErrors.Add(s.sc.Stats().ParseErrors)
			s.sc = nil
		}
	}
	delete(a.conns, key)
}

// closeAll ends every connection (the sensor is stopping).
func (a *assembler) closeAll() {
	for k, c := range a.conns {
		a.finish(k, c, nil, a.now)
	}
}

// evict closes the idlest eighth of the connections.
func (a *assembler) evict() {
	lasts := make([]uint64, 0, len(a.conns))
	for _, c := range a.conns {
		lasts = append(lasts, c.last)
	}
	sort.Slice(lasts, func(i, j int) bool { return lasts[i] < lasts[j] })
	cut := lasts[len(lasts)/8]
	for k, c := range a.conns {
		if c.last <= cut {
			a.finish(k, c, nil, a.now)
			a.stats.evicted.Add(1)
		}
	}
}

// sweepIdle closes connections idle for IdleTimeout (event time).
func (a *assembler) sweepIdle() {
	idle := uint64(a.opts.IdleTimeout)
	a.sweepAt = a.now + idle/4
	if a.now < idle {
		return
	}
	for k, c := range a.conns {
		if c.last < a.now-idle {
			a.finish(k, c, nil, a.now)
			a.stats.evicted.Add(1)
		}
	}
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// looksTLS says whether b starts with a TLS handshake record.
func looksTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == 0x16 && b[1] == 3 && b[2] <= 4
}

var httpMethods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("DELETE "), []byte("HEAD "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "), []byte("PRI * HTTP/2"),
}

// guessRole decides this socket's side when accept/connect was not seen
// (the connection predates the sensor): a request or a TLS ClientHello
// going out means a client; a response going out, a server; otherwise the
// lower port is taken as the server's.
func guessRole(dir uint8, first []byte, lport, rport uint16) uint8 {
	request := looksTLS(first) && len(first) > 5 && first[5] == 1
	for _, m := range httpMethods {
		if bytes.HasPrefix(first, m) {
			request = true
		}
	}
	response := bytes.HasPrefix(first, []byte("HTTP/"))
	switch {
	case request && dir == dirEgress, response && dir == dirIngress:
		return roleClient
	case request && dir == dirIngress, response && dir == dirEgress:
		return roleServer
	case lport < rport:
		return roleServer
	}
	return roleClient
}
