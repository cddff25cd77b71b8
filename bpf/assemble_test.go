package bpf

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// replay is an EventReader over records made in the test.
type replay struct {
	recs   [][]byte
	closed bool
}

func (r *replay) Read() ([]byte, error) {
	if r.closed || len(r.recs) == 0 {
		return nil, fmt.Errorf("replay: %w", ErrClosed)
	}
	rec := r.recs[0]
	r.recs = r.recs[1:]
	return rec, nil
}

func (r *replay) Close() error { r.closed = true; return nil }

// script builds the records of connections seen from a local socket
// 127.0.0.1:40000 talking to 127.0.0.1:8080.
type script struct {
	recs [][]byte
	ts   uint64
	off  map[[3]uint64]uint64 // (sock, tls, dir) -> next offset
	// announced: sockets whose CONN record went (the kernel sends one
	// before a connection's first data record).
	announced map[uint64]bool
}

func newScript() *script {
	return &script{ts: 1_000_000_000, off: map[[3]uint64]uint64{}, announced: map[uint64]bool{}}
}

// announce records the CONN record of e's connection.
func (s *script) announce(e event) {
	e.kind, e.dir, e.flags, e.offset, e.end, e.data = kindConn, 0, 0, 0, 0, nil
	s.recs = append(s.recs, e.encode(nil))
	s.announced[e.conn] = true
}

func (s *script) ev(sock uint64, kind, dir, flags, role uint8) event {
	s.ts += 1000
	e := event{ts: s.ts, conn: sock, gen: 7, kind: kind, dir: dir, flags: flags, role: role,
		family: afInet, lport: 40000, rport: 8080, tgid: 4242, cgroup: 99}
	copy(e.laddr[:], []byte{127, 0, 0, 1})
	copy(e.raddr[:], []byte{127, 0, 0, 1})
	copy(e.comm[:], "client")
	return e
}

// call records one syscall that moved data; copied says how many of its
// bytes were copied (the rest truncated) and drop lists chunk indexes (of
// chunk bytes each) lost in the ring.
func (s *script) call(sock uint64, dir, flags, role uint8, data string, copied, chunk int, drop ...int) {
	k := [3]uint64{sock, uint64(flags & flagTLS), uint64(dir)}
	start := s.off[k]
	s.off[k] += uint64(len(data))
	if copied < 0 || copied > len(data) {
		copied = len(data)
	}
	if chunk <= 0 {
		chunk = chunkSize
	}
	if !s.announced[sock] {
		s.announce(s.ev(sock, kindConn, 0, 0, role))
	}
	for i, o := 0, 0; o < copied; i, o = i+1, o+chunk {
		n := min(chunk, copied-o)
		e := s.ev(sock, kindData, dir, flags, role)
		e.offset, e.end = start+uint64(o), start+uint64(len(data))
		if o+n == copied {
			e.flags |= flagLast
		}
		e.data = []byte(data[o : o+n])
		lost := false
		for _, d := range drop {
			lost = lost || d == i
		}
		if !lost {
			s.recs = append(s.recs, e.encode(nil))
		}
	}
}

func (s *script) close(sock uint64) {
	e := s.ev(sock, kindClose, 0, 0, 0)
	var ends []byte
	for _, k := range [][3]uint64{{sock, 0, 0}, {sock, 0, 1}, {sock, 1, 0}, {sock, 1, 1}} {
		v := s.off[k]
		ends = append(ends, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
	}
	e.data = ends
	s.recs = append(s.recs, e.encode(nil))
}

// play hands the records to a new assembler counting into st, closes
// what is left open, and returns the summaries of the transactions it
// emitted and the assembler.
func (s *script) play(st *userStats) ([]string, *assembler) {
	var got []string
	a := newAssembler(Options{}, func(uint64) (t0 time.Time) { return }, st, func(tx *reassembly.Transaction) {
		got = append(got, summary(tx))
	}, nil)
	for _, r := range s.recs {
		a.handle(r)
	}
	a.closeAll()
	return got, a
}

func req(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n" }

func resp(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// summary renders a transaction for comparison.
func summary(t *reassembly.Transaction) string {
	var f []string
	for _, x := range []struct {
		fl   reassembly.Flags
		name string
	}{{reassembly.FlagReqGap, "reqgap"}, {reassembly.FlagRespGap, "respgap"}, {reassembly.FlagNoRequest, "noreq"}, {reassembly.FlagNoResponse, "noresp"}} {
		if t.Flags&x.fl != 0 {
			f = append(f, x.name)
		}
	}
	tls := ""
	if t.TLS {
		tls = " tls"
	}
	return fmt.Sprintf("%s %s %d %d %s->%s%s [%s]", t.Method, t.Target, t.Status, t.RespBodyBytes, t.Client, t.Server, tls, strings.Join(f, ","))
}

const (
	local  = "127.0.0.1:40000"
	remote = "127.0.0.1:8080"
)

func TestAssembler(t *testing.T) {
	body := strings.Repeat("b", 10000)
	cases := []struct {
		name  string
		build func(s *script)
		want  []string
		check func(t *testing.T, st Stats)
	}{
		{
			name: "keep-alive, local client",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp("one"), -1, 0)
				s.call(1, dirEgress, 0, roleClient, req("/b"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp("two!"), -1, 0)
				s.close(1)
			},
			want: []string{
				"GET /a 200 3 " + local + "->" + remote + " []",
				"GET /b 200 4 " + local + "->" + remote + " []",
			},
		},
		{
			name: "local server: the remote end is the client",
			build: func(s *script) {
				s.call(1, dirIngress, 0, roleServer, req("/a"), -1, 0)
				s.call(1, dirEgress, 0, roleServer, resp("one"), -1, 0)
				s.close(1)
			},
			want: []string{"GET /a 200 3 " + remote + "->" + local + " []"},
		},
		{
			name: "role guessed from the first bytes",
			build: func(s *script) {
				s.call(1, dirIngress, 0, roleUnknown, req("/a"), -1, 0)
				s.call(1, dirEgress, 0, roleUnknown, resp("one"), -1, 0)
				s.close(1)
			},
			want: []string{"GET /a 200 3 " + remote + "->" + local + " []"},
		},
		{
			name: "pipelined requests pair in order",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/1")+req("/2")+req("/3"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp("a")+resp("bb"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp("ccc"), -1, 0)
				s.close(1)
			},
			want: []string{
				"GET /1 200 1 " + local + "->" + remote + " []",
				"GET /2 200 2 " + local + "->" + remote + " []",
				"GET /3 200 3 " + local + "->" + remote + " []",
			},
		},
		{
			name: "chunk lost in the ring: gap in the body, next exchange intact",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/big"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp(body), -1, 1000, 3)
				s.call(1, dirEgress, 0, roleClient, req("/next"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp("ok"), -1, 0)
				s.close(1)
			},
			want: []string{
				"GET /big 200 10000 " + local + "->" + remote + " [respgap]",
				"GET /next 200 2 " + local + "->" + remote + " []",
			},
			check: func(t *testing.T, st Stats) {
				if st.Gaps != 1 || st.GapBytes != 1000 {
					t.Errorf("gaps %d/%d bytes, want 1/1000", st.Gaps, st.GapBytes)
				}
			},
		},
		{
			name: "call truncated: the gap is declared at the call's last chunk",
			build: func(s *script) {
				s.call(1, dirIngress, 0, roleServer, "POST /up HTTP/1.1\r\nContent-Length: 10000\r\n\r\n"+body, 4096, 0)
				s.call(1, dirEgress, 0, roleServer, resp("k"), -1, 0)
				s.close(1)
			},
			want: []string{"POST /up 200 1 " + remote + "->" + local + " [reqgap]"},
		},
		{
			name: "close record carries the loss at the end",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp(body), -1, 4096, 2)
				s.close(1)
			},
			want: []string{"GET /a 200 10000 " + local + "->" + remote + " [respgap]"},
			check: func(t *testing.T, st Stats) {
				if st.GapBytes != uint64(len(resp(body)))-8192 {
					t.Errorf("gap bytes %d", st.GapBytes)
				}
			},
		},
		{
			name: "every data record lost: the close record's offsets are the gaps",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0, 0)
				s.call(1, dirIngress, 0, roleClient, resp(body), -1, 4096, 0, 1, 2)
				s.close(1)
			},
			want: nil,
			check: func(t *testing.T, st Stats) {
				if want := uint64(len(req("/a")) + len(resp(body))); st.GapBytes != want || st.Gaps != 2 || st.DeliveredBytes != 0 {
					t.Errorf("gaps %d, gap bytes %d, delivered %d; want 2 gaps of %d bytes in all", st.Gaps, st.GapBytes, st.DeliveredBytes, want)
				}
			},
		},
		{
			name: "duplicate record dropped",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
				s.recs = append(s.recs, s.recs[len(s.recs)-1])
				s.call(1, dirIngress, 0, roleClient, resp("one"), -1, 0)
				s.close(1)
			},
			want: []string{"GET /a 200 3 " + local + "->" + remote + " []"},
			check: func(t *testing.T, st Stats) {
				if st.OverlapBytes != uint64(len(req("/a"))) {
					t.Errorf("overlap %d", st.OverlapBytes)
				}
			},
		},
		{
			name: "TLS: records skipped, plaintext from OpenSSL parsed",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, "\x16\x03\x01\x00\x05\x01hello", -1, 0)
				s.call(1, dirEgress, flagTLS, roleClient, req("/secret"), -1, 0)
				s.call(1, dirIngress, flagTLS, roleClient, resp("s"), -1, 0)
				s.close(1)
			},
			want: []string{"GET /secret 200 1 " + local + "->" + remote + " tls []"},
			check: func(t *testing.T, st Stats) {
				if st.EncryptedConnections != 0 {
					t.Errorf("encrypted %d, want 0", st.EncryptedConnections)
				}
			},
		},
		{
			name: "TLS without plaintext: encrypted, not visible",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, "\x16\x03\x01\x00\x05\x01hello", -1, 0)
				s.call(1, dirIngress, 0, roleClient, "\x16\x03\x03\x00\x05\x02hello", -1, 0)
				s.close(1)
			},
			check: func(t *testing.T, st Stats) {
				if st.EncryptedConnections != 1 || st.Transactions != 0 {
					t.Errorf("encrypted %d transactions %d, want 1, 0", st.EncryptedConnections, st.Transactions)
				}
			},
		},
		{
			name: "socket address reused: the old connection ends",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/old"), -1, 0)
				e := s.ev(1, kindData, dirEgress, flagLast, roleClient)
				e.gen = 8
				s.announce(e)
				e.data = []byte(req("/new"))
				e.end = uint64(len(e.data))
				s.recs = append(s.recs, e.encode(nil))
			},
			want: []string{
				"GET /old 0 0 " + local + "->" + remote + " [noresp]",
				"GET /new 0 0 " + local + "->" + remote + " [noresp]",
			},
		},
		{
			name: "two connections interleaved",
			build: func(s *script) {
				s.call(1, dirEgress, 0, roleClient, req("/one"), -1, 0)
				s.call(2, dirEgress, 0, roleClient, req("/two"), -1, 0)
				s.call(2, dirIngress, 0, roleClient, resp("2"), -1, 0)
				s.call(1, dirIngress, 0, roleClient, resp("1"), -1, 0)
				s.close(2)
				s.close(1)
			},
			want: []string{
				"GET /two 200 1 " + local + "->" + remote + " []",
				"GET /one 200 1 " + local + "->" + remote + " []",
			},
		},
		{
			name: "short record counted",
			build: func(s *script) {
				s.recs = append(s.recs, []byte{1, 2, 3})
			},
			check: func(t *testing.T, st Stats) {
				if st.BadRecords != 1 {
					t.Errorf("bad records %d", st.BadRecords)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScript()
			tc.build(sc)
			s := newReplay(&replay{recs: sc.recs}, Options{})
			var got []string
			err := s.Run(context.Background(), func(tx *reassembly.Transaction) {
				if tx.Process == nil || tx.Process.PID != 4242 || tx.Process.Comm != "client" {
					t.Errorf("process %+v", tx.Process)
				}
				got = append(got, summary(tx))
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.check != nil {
				tc.check(t, s.Stats())
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	e := event{ts: 1, conn: 2, gen: 3, offset: 4, end: 9, kind: kindData, dir: dirIngress,
		flags: flagTLS | flagLast, data: []byte("hello")}
	var d event
	rec := e.encode(nil)
	if len(rec) != hdrSize+5 {
		t.Errorf("data record of %d bytes, want %d", len(rec), hdrSize+5)
	}
	if err := d.decode(rec); err != nil {
		t.Fatal(err)
	}
	if string(d.data) != "hello" || d.end != 9 || d.offset != 4 || d.gen != 3 || d.conn != 2 || d.flags != flagTLS|flagLast || d.dir != dirIngress {
		t.Errorf("decoded %+v", d)
	}
	m := event{ts: 1, conn: 2, gen: 3, kind: kindConn, cgroup: 5, tgid: 6, family: afInet6, role: roleServer, lport: 443, rport: 50000}
	copy(m.laddr[:], netip.MustParseAddr("::1").AsSlice())
	copy(m.raddr[:], netip.MustParseAddr("::ffff:10.0.0.1").AsSlice())
	copy(m.comm[:], "nginx")
	rec = m.encode(nil)
	if len(rec) != hdrSize+metaSize {
		t.Errorf("conn record of %d bytes, want %d", len(rec), hdrSize+metaSize)
	}
	if err := d.decode(rec); err != nil {
		t.Fatal(err)
	}
	if d.kind != kindConn || d.gen != 3 || d.tgid != 6 || d.cgroup != 5 || d.role != roleServer || d.lport != 443 || commString(&d.comm) != "nginx" {
		t.Errorf("decoded %+v", d)
	}
	l, r := d.endpoints()
	if l.String() != "[::1]:443" || r.String() != "10.0.0.1:50000" {
		t.Errorf("endpoints %v %v", l, r)
	}
	if err := d.decode(e.encode(nil)); err != nil || d.tgid != 0 || d.lport != 0 {
		t.Errorf("a data record after a conn record keeps its meta: %+v, %v", d, err)
	}
	if err := d.decode(make([]byte, hdrSize-1)); err == nil {
		t.Error("short record decoded")
	}
	long := e.encode(nil)
	if err := d.decode(long[:len(long)-1]); err == nil {
		t.Error("record shorter than its len decoded")
	}
	short := m.encode(nil)
	short[40] = metaSize - 1 // len
	if err := d.decode(short[:len(short)-1]); err == nil {
		t.Error("conn record with a short meta decoded")
	}
}

// TestMissingConnRecord: data of a connection whose CONN record this side
// never saw (forgotten after eviction, or lost) takes its meta from the
// kernel's table, or goes on without one, counted.
func TestMissingConnRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lookup  func(uint64) (uint64, meta, bool)
		pid     uint32
		unknown uint64
		want    string
	}{
		{"kernel table", func(sock uint64) (uint64, meta, bool) {
			m := meta{tgid: 77, family: afInet, role: roleClient, lport: 40000, rport: 8080}
			copy(m.laddr[:], []byte{127, 0, 0, 1})
			copy(m.raddr[:], []byte{127, 0, 0, 1})
			copy(m.comm[:], "late")
			return 7, m, sock == 1
		}, 77, 0, "GET /a 200 3 " + local + "->" + remote + " []"},
		{"kernel table has another generation", func(uint64) (uint64, meta, bool) {
			return 8, meta{tgid: 77, family: afInet}, true
		}, 0, 1, "GET /a 200 3 [::]:0->[::]:0 []"},
		{"no kernel table", nil, 0, 1, "GET /a 200 3 [::]:0->[::]:0 []"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScript()
			sc.announced[1] = true // its CONN record is not in the ring
			sc.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
			sc.call(1, dirIngress, 0, roleClient, resp("one"), -1, 0)
			sc.close(1)
			var st userStats
			var got []string
			a := newAssembler(Options{}, func(uint64) (t0 time.Time) { return }, &st, func(tx *reassembly.Transaction) {
				if tx.Process == nil || tx.Process.PID != tc.pid {
					t.Errorf("process %+v, want pid %d", tx.Process, tc.pid)
				}
				got = append(got, summary(tx))
			}, nil)
			a.lookup = tc.lookup
			for _, r := range sc.recs {
				a.handle(r)
			}
			a.closeAll()
			if strings.Join(got, "\n") != tc.want || st.unknownConns.Load() != tc.unknown || st.conns.Load() != 1 {
				t.Errorf("got %q, %d unknown, %d conns; want %q, %d unknown, 1 conn", got, st.unknownConns.Load(), st.conns.Load(), tc.want, tc.unknown)
			}
		})
	}
}

// TestConnRecordRepeated: two CPUs may both send a connection's CONN
// record; the second one changes nothing.
func TestConnRecordRepeated(t *testing.T) {
	sc := newScript()
	sc.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
	sc.announce(sc.ev(1, kindConn, 0, 0, roleClient))
	sc.call(1, dirIngress, 0, roleClient, resp("one"), -1, 0)
	sc.close(1)
	var st userStats
	got, _ := sc.play(&st)
	if want := "GET /a 200 3 " + local + "->" + remote + " []"; strings.Join(got, "\n") != want || st.conns.Load() != 1 {
		t.Errorf("got %q in %d connections, want %q in 1", got, st.conns.Load(), want)
	}
}

func TestDecodeAllocs(t *testing.T) {
	rec := (&event{kind: kindData, data: make([]byte, 100)}).encode(nil)
	var e event
	if n := testing.AllocsPerRun(100, func() { _ = e.decode(rec) }); n != 0 {
		t.Errorf("decode allocates %v times", n)
	}
}

func BenchmarkAssembler(b *testing.B) {
	sc := newScript()
	for i := 0; i < 100; i++ {
		sc.call(1, dirEgress, 0, roleClient, req(fmt.Sprintf("/item/%d", i)), -1, 0)
		sc.call(1, dirIngress, 0, roleClient, resp(strings.Repeat("x", 2000)), -1, 0)
	}
	var bytes int
	for _, r := range sc.recs {
		bytes += len(r)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	for b.Loop() {
		a := newAssembler(Options{}, func(uint64) (t0 time.Time) { return }, &userStats{}, func(*reassembly.Transaction) {}, nil)
		for _, r := range sc.recs {
			a.handle(r)
		}
		a.closeAll()
	}
}

// TestMirror: a MIRROR record drops the client end's view of a local
// connection (the server's socket reports it): what its parser had begun
// is not emitted, records still in flight are skipped, its close declares
// no gap, and another connection is not touched. A MIRROR record for a
// connection this side forgot leaves a quiet stub.
func TestMirror(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(sc *script)
		want   string
	}{
		{"after the request", func(sc *script) {
			sc.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
			sc.recs = append(sc.recs, mirrorRec(sc, 1))
			// The kernel stopped copying: only the close's offsets
			// say the response moved.
			sc.off[[3]uint64{1, 0, 1}] += uint64(len(resp("one")))
			sc.close(1)
		}, ""},
		{"records in flight", func(sc *script) {
			sc.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
			sc.recs = append(sc.recs, mirrorRec(sc, 1))
			sc.call(1, dirIngress, 0, roleClient, resp("one"), -1, 0)
			sc.close(1)
		}, ""},
		{"another connection goes on", func(sc *script) {
			sc.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
			sc.call(2, dirIngress, 0, roleServer, req("/b"), -1, 0)
			sc.recs = append(sc.recs, mirrorRec(sc, 1))
			sc.call(2, dirEgress, 0, roleServer, resp("two"), -1, 0)
			sc.close(2)
			sc.close(1)
		}, "GET /b 200 3 " + remote + "->" + local + " []"},
		{"forgotten connection", func(sc *script) {
			sc.recs = append(sc.recs, mirrorRec(sc, 3))
			sc.off[[3]uint64{3, 0, 0}] += 100
			sc.close(3)
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newScript()
			tc.script(sc)
			var st userStats
			got, a := sc.play(&st)
			if strings.Join(got, "\n") != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if st.gapBytes.Load() != 0 || st.mirrored.Load() != 1 || len(a.conns) != 0 {
				t.Errorf("%d gap bytes, %d mirrored, %d connections left; want 0, 1, 0", st.gapBytes.Load(), st.mirrored.Load(), len(a.conns))
			}
		})
	}
}

// mirrorRec is the MIRROR record of sock's connection.
func mirrorRec(sc *script, sock uint64) []byte {
	e := sc.ev(sock, kindMirror, 0, 0, 0)
	return e.encode(nil)
}
