package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// errCorrupt is wrapped by every decoding error of the state codec.
var errCorrupt = errors.New("corrupt state")

// stateEnc appends the compact binary encoding the engine's state parts
// use: uvarints, length-prefixed strings, times as Unix nanoseconds.
type stateEnc struct{ b []byte }

func (e *stateEnc) u(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *stateEnc) i(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *stateEnc) byte(v byte) { e.b = append(e.b, v) }
func (e *stateEnc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *stateEnc) str(s string) { e.u(uint64(len(s))); e.b = append(e.b, s...) }
func (e *stateEnc) bytes(p []byte) {
	e.u(uint64(len(p)))
	e.b = append(e.b, p...)
}

// time encodes the zero time as 0 and others as 1 + Unix nanoseconds
// (zigzag), in UTC: the location is not state.
func (e *stateEnc) time(t time.Time) {
	if t.IsZero() {
		e.u(0)
		return
	}
	e.u(1)
	e.i(t.UnixNano())
}

func (e *stateEnc) addr(a netip.Addr) {
	b, _ := a.MarshalBinary() // never fails
	e.bytes(b)
}

func (e *stateEnc) f64(f float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f)) }

// strSet encodes a set of strings in sorted order (deterministic output).
func (e *stateEnc) strSet(m map[string]struct{}) {
	e.u(uint64(len(m)))
	for _, k := range sortedKeys(m) {
		e.str(k)
	}
}

// stateDec reads what stateEnc wrote. The first error sticks: later reads
// return zero values, and err says what went wrong.
type stateDec struct {
	b   []byte
	err error
	// ver is the version of the part being decoded, for decoders that
	// read older encodings.
	ver byte
}

func (d *stateDec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *stateDec) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *stateDec) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *stateDec) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *stateDec) bool() bool { return d.byte() != 0 }

// n reads a count and checks it against what the rest of the input could
// hold (at least min bytes per element), so corrupt input cannot make the
// decoder allocate without bound.
func (d *stateDec) n(min int) int {
	v := d.u()
	if min < 1 {
		min = 1
	}
	if v > uint64(len(d.b)/min) {
		d.fail("count")
		return 0
	}
	return int(v)
}

func (d *stateDec) raw() []byte {
	n := d.n(1)
	if d.err != nil || n > len(d.b) {
		d.fail("length")
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *stateDec) str() string {
	n := d.u()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail("string length")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *stateDec) time() time.Time {
	switch d.u() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.i()).UTC()
	}
	d.fail("time")
	return time.Time{}
}

func (d *stateDec) addr() netip.Addr {
	var a netip.Addr
	if err := a.UnmarshalBinary(d.raw()); err != nil {
		d.fail("address")
	}
	return a
}

func (d *stateDec) f64() float64 {
	if len(d.b) < 8 {
		d.fail("float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

// strSet reads a set written by stateEnc.strSet; an empty set is nil.
func (d *stateDec) strSet() map[string]struct{} {
	n := d.n(1)
	if n == 0 {
		return nil
	}
	m := make(map[string]struct{}, n)
	for j := 0; j < n && d.err == nil; j++ {
		m[d.str()] = struct{}{}
	}
	return m
}

// version reads a part's leading version byte and checks it is one the
// decoder knows.
func (d *stateDec) version(what string, max byte) byte {
	v := d.byte()
	if d.err == nil && (v == 0 || v > max) {
		d.err = fmt.Errorf("%w: %s encoding version %d, this build reads up to %d", errCorrupt, what, v, max)
	}
	d.ver = v
	return v
}

// end reports trailing bytes as corruption.
func (d *stateDec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return d.err
}
