package http2

import (
	"errors"
	"fmt"

	"golang.org/x/net/http2/hpack"
)

// ErrHPACK is wrapped by the errors of a header block that is not valid
// HPACK (bad integer, truncated string, bad Huffman code, index 0).
var ErrHPACK = errors.New("malformed header block")

// entryOverhead is the per-entry size HPACK adds to the name and value
// lengths (RFC 7541 §4.1).
const entryOverhead = 32

// staticTable is RFC 7541 Appendix A (index i+1 at position i).
var staticTable = [61]struct{ name, value string }{
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""}, {"accept-encoding", "gzip, deflate"},
	{"accept-language", ""}, {"accept-ranges", ""}, {"accept", ""}, {"access-control-allow-origin", ""},
	{"age", ""}, {"allow", ""}, {"authorization", ""}, {"cache-control", ""},
	{"content-disposition", ""}, {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""},
	{"from", ""}, {"host", ""}, {"if-match", ""}, {"if-modified-since", ""},
	{"if-none-match", ""}, {"if-range", ""}, {"if-unmodified-since", ""}, {"last-modified", ""},
	{"link", ""}, {"location", ""}, {"max-forwards", ""}, {"proxy-authenticate", ""},
	{"proxy-authorization", ""}, {"range", ""}, {"referer", ""}, {"refresh", ""},
	{"retry-after", ""}, {"server", ""}, {"set-cookie", ""}, {"strict-transport-security", ""},
	{"transfer-encoding", ""}, {"user-agent", ""}, {"vary", ""}, {"via", ""},
	{"www-authenticate", ""},
}

// entry is one dynamic table entry. An entry inserted while its name could
// not be resolved (the name index pointed at an entry this observer never
// saw) is a placeholder: known is false and size counts the value only.
type entry struct {
	name, value string
	known       bool
}

func (e *entry) size() int { return len(e.name) + len(e.value) + entryOverhead }

// hfield is one header field of a block; known is false for a field that
// referred to an entry this observer never saw (name and value empty).
type hfield struct {
	name, value string
	known       bool
}

// decoder is an HPACK decoder for an observer that may not know the whole
// dynamic table: after a capture gap, or on a connection picked up
// mid-stream, entries inserted before are unknown.
//
// What it keeps is always a newest-first prefix of the encoder's table:
// HPACK inserts at the front and evicts at the back, so the k-th newest
// entry inserted since the observer lost track is the table's k-th entry
// for as long as the encoder may reference it (an encoder references only
// entries it still has). A reference past that prefix is reported unknown,
// never guessed. The decoder is back in sync (tail false) once the table
// provably holds nothing older: a size update evicted into the known
// prefix, or the known entries fill the signalled size.
//
// Sizes of placeholder entries are lower bounds (their names are unknown);
// eviction on lower bounds keeps a superset of the encoder's table, which
// only delays the return to sync.
type decoder struct {
	ents []entry // oldest first; ents[head:] are live
	head int
	size int // sum of the live entries' sizes (a lower bound with placeholders)
	// max is the table size last signalled (valid when maxKnown); it starts
	// at the protocol default of 4096.
	max      int
	maxKnown bool
	// tail is set while the encoder's table may hold entries older than
	// the ones kept here.
	tail bool
	// limit bounds the bytes of entries kept (memory); entries past it are
	// forgotten and tail set.
	limit int
	// maxString bounds one decoded string.
	maxString int
}

func newDecoder(limit, maxString int) decoder {
	return decoder{max: 4096, maxKnown: true, limit: limit, maxString: maxString}
}

// lose forgets the table: its entries and size are no longer known.
func (d *decoder) lose() {
	d.ents, d.head, d.size = d.ents[:0], 0, 0
	d.maxKnown, d.tail = false, true
}

// synced reports whether every table reference can be resolved.
func (d *decoder) synced() bool { return !d.tail }

func (d *decoder) live() int { return len(d.ents) - d.head }

// evictOldest drops the oldest live entry.
func (d *decoder) evictOldest() {
	d.size -= d.ents[d.head].size()
	d.ents[d.head] = entry{}
	d.head++
	if d.head == len(d.ents) {
		d.ents, d.head = d.ents[:0], 0
	} else if d.head > 64 && d.head > len(d.ents)/2 {
		n := copy(d.ents, d.ents[d.head:])
		clear(d.ents[n:])
		d.ents, d.head = d.ents[:n], 0
	}
}

// fit applies the signalled size (when known) and the memory limit.
func (d *decoder) fit() {
	if d.maxKnown {
		evicted := false
		for d.size > d.max && d.live() > 0 {
			d.evictOldest()
			evicted = true
		}
		// The encoder evicted at least as much: nothing older is left. Nor
		// is there room for an older entry when the known ones fill the
		// table.
		if evicted || d.size+entryOverhead > d.max {
			d.tail = false
		}
	}
	for d.size > d.limit && d.live() > 0 {
		d.evictOldest()
		d.tail = true
	}
}

func (d *decoder) setMax(n int) {
	d.max, d.maxKnown = n, true
	d.fit()
}

func (d *decoder) insert(e entry) {
	if d.maxKnown && e.size() > d.max {
		// RFC 7541 §4.4: the table is emptied and the entry not added.
		for d.live() > 0 {
			d.evictOldest()
		}
		d.tail = false
		return
	}
	d.ents = append(d.ents, e)
	d.size += e.size()
	d.fit()
}

// at resolves index i (1-based, static then dynamic). ok is false when the
// entry is unknown to this observer; bad is set when the index cannot exist.
func (d *decoder) at(i uint64) (e entry, ok, bad bool) {
	switch {
	case i == 0:
		return entry{}, false, true
	case i <= uint64(len(staticTable)):
		s := staticTable[i-1]
		return entry{name: s.name, value: s.value, known: true}, true, false
	}
	k := i - uint64(len(staticTable)) - 1
	if k < uint64(d.live()) {
		e := d.ents[len(d.ents)-1-int(k)]
		return e, e.known, false
	}
	return entry{}, false, !d.tail
}

// decode decodes one complete header block, appending its fields to dst in
// order, those it cannot resolve (references to entries it never saw) with
// known false; unknown counts them. An error means the block is malformed: the table
// is then lost (lose) and the fields decoded so far are returned.
func (d *decoder) decode(dst []hfield, p []byte) (out []hfield, unknown int, err error) {
	for len(p) > 0 {
		b := p[0]
		switch {
		case b&0x80 != 0: // indexed field
			var i uint64
			if i, p, err = readInt(p, 7); err != nil {
				break
			}
			e, ok, bad := d.at(i)
			if bad {
				err = fmt.Errorf("index %d of %d: %w", i, len(staticTable)+d.live(), ErrHPACK)
				break
			}
			if !ok {
				unknown++
				dst = append(dst, hfield{})
				continue
			}
			dst = append(dst, hfield{e.name, e.value, true})
			continue
		case b&0xe0 == 0x20: // dynamic table size update
			var n uint64
			if n, p, err = readInt(p, 5); err != nil {
				break
			}
			if n > 1<<31 {
				err = fmt.Errorf("table size %d: %w", n, ErrHPACK)
				break
			}
			d.setMax(int(n))
			continue
		default: // literal: with (01), without (0000) or never (0001) indexing
			prefix := uint8(4)
			index := b&0xc0 == 0x40
			if index {
				prefix = 6
			}
			var (
				ni          uint64
				name, value string
				nameOK      = true
			)
			if ni, p, err = readInt(p, prefix); err != nil {
				break
			}
			if ni == 0 {
				if name, p, err = d.readString(p); err != nil {
					break
				}
			} else {
				e, ok, bad := d.at(ni)
				if bad {
					err = fmt.Errorf("name index %d: %w", ni, ErrHPACK)
					break
				}
				name, nameOK = e.name, ok
			}
			if value, p, err = d.readString(p); err != nil {
				break
			}
			if index {
				d.insert(entry{name: name, value: value, known: nameOK})
			}
			if !nameOK {
				unknown++
				dst = append(dst, hfield{})
				continue
			}
			dst = append(dst, hfield{name, value, true})
			continue
		}
		// Only errors reach here.
		d.lose()
		return dst, unknown, err
	}
	return dst, unknown, nil
}

// readInt reads an HPACK integer with an n-bit prefix (RFC 7541 §5.1).
func readInt(p []byte, n uint8) (uint64, []byte, error) {
	mask := uint64(1)<<n - 1
	v := uint64(p[0]) & mask
	p = p[1:]
	if v < mask {
		return v, p, nil
	}
	var shift uint
	for i := 0; i < len(p); i++ {
		b := p[i]
		v += uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, p[i+1:], nil
		}
		shift += 7
		if shift > 35 {
			return 0, nil, fmt.Errorf("integer too long: %w", ErrHPACK)
		}
	}
	return 0, nil, fmt.Errorf("truncated integer: %w", ErrHPACK)
}

// readString reads an HPACK string literal (RFC 7541 §5.2).
func (d *decoder) readString(p []byte) (string, []byte, error) {
	if len(p) == 0 {
		return "", nil, fmt.Errorf("missing string: %w", ErrHPACK)
	}
	huff := p[0]&0x80 != 0
	n, p, err := readInt(p, 7)
	if err != nil {
		return "", nil, err
	}
	if n > uint64(len(p)) {
		return "", nil, fmt.Errorf("string of %d bytes, %d left: %w", n, len(p), ErrHPACK)
	}
	raw := p[:n]
	p = p[n:]
	if !huff {
		if len(raw) > d.maxString {
			return "", nil, fmt.Errorf("string of %d bytes: %w", len(raw), ErrHPACK)
		}
		return string(raw), p, nil
	}
	// Huffman output is at most 8/5 of its input.
	if len(raw)*8/5 > d.maxString {
		return "", nil, fmt.Errorf("huffman string of %d bytes: %w", len(raw), ErrHPACK)
	}
	s, err := hpack.HuffmanDecodeToString(raw)
	if err != nil {
		return "", nil, fmt.Errorf("%v: %w", err, ErrHPACK)
	}
	return s, p, nil
}
