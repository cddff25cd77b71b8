package synth

import "time"

// impairConn degrades about one connection in six (impaired runs) and tags
// a fifth of them with a VLAN.
func (s *sim) impairConn(o *ConnOptions) {
	r := s.rng
	if r.Float64() < 0.2 {
		o.VLANs = []uint16{100}
	}
	if r.Float64() >= 0.17 {
		return
	}
	s.tot.ImpairedConnections++
	switch r.IntN(6) {
	case 0:
		o.Impair.LossRate = 0.05
	case 1:
		o.Impair.RetransmitRate = 0.05
	case 2:
		o.Impair.ReorderRate = 0.05
	case 3:
		o.Impair.MidStream = true
	case 4:
		o.Impair.OneSided = true
		o.Impair.Only = Dir(r.IntN(2))
	default:
		o.Impair.LossRate, o.Impair.RetransmitRate, o.Impair.ReorderRate = 0.02, 0.02, 0.02
	}
}

var malformed = [][]byte{
	[]byte("GET /v1/customers/1 HTTP/1.1\r\nHost api.example.com\r\n\r\n"),
	[]byte("GET /v1/../../../etc/passwd HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: -5\r\n\r\n"),
	[]byte("POST /v1/orders HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\nzz\r\nnot-a-chunk\r\n"),
	[]byte("\x00\x01\x02GARBAGE\r\n\r\n"),
	[]byte("GET /v1/products/SKU-00001 HTTP/9.9\r\n" + string(make([]byte, 0)) + "X-Long: " + string(repeatByte('A', 9000)) + "\r\n\r\n"),
}

func repeatByte(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// impairExtras adds, in impaired runs, malformed requests and flows that
// carry no HTTP (TLS-looking bytes on port 80) to a slot's sessions.
func (s *sim) impairExtras(t time.Time, slot time.Duration, batch []*session) []*session {
	r := s.rng
	if r.Float64() < 0.3 {
		a := s.attacker("")
		ss := &session{start: t.Add(time.Duration(r.Int64N(int64(slot)))), a: a, ip: publicIP(s.o.Seed<<36 + uint64(t.Unix())), incident: -1}
		if r.IntN(2) == 0 {
			ss.raw = s.malformedRequest(r.IntN(len(malformed)))
			s.tot.MalformedRequests++
		} else {
			ss.raw = tlsRecord(0x01, 200+r.IntN(300))
			s.tot.NonHTTPConnections++
		}
		batch = append(batch, ss)
	}
	return batch
}

// tlsRecord returns a handshake record of a given message type whose body is
// n deterministic pseudo-random bytes.
func tlsRecord(msgType byte, n int) []byte {
	b := []byte{0x16, 0x03, 0x01, byte((n + 4) >> 8), byte(n + 4), msgType, 0, byte(n >> 8), byte(n)}
	x := uint32(2463534242)
	for range n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b = append(b, byte(x))
	}
	return b
}
