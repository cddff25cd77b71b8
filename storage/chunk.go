package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/shadowtap/shadowtap/detect"
)

// Values larger than chunkSize are stored in parts so that every stored
// value stays under the value threshold, in the LSM tree. A value in the
// value log is only reclaimed by value-log GC, which needs discard
// statistics that compaction of a small LSM seldom produces: the engine's
// largest state parts (megabytes, rewritten at every save) made the value
// log, memory-mapped, grow with the length of the capture analysed (175 MB
// after 84 saves of a 3 GB capture). Parts in the LSM are dropped by
// compaction like any overwritten key.
//
// The key keeps a header (marked with metaChunked as badger's user meta):
// the value's length and its number of parts, uvarints. Part i lives under
// key + "\x00" + i as 4 big-endian bytes; detect's keys are printable, so
// the parts sort right after their key and never collide with another
// key. Values written before chunking (no meta) read as they are.
const (
	chunkSize   = 192 << 10
	metaChunked = 1
)

// errKeyNUL rejects keys that could collide with parts.
var errKeyNUL = errors.New("key holds a NUL byte")

func partKey(key []byte, i uint32) []byte {
	k := make([]byte, 0, len(key)+5)
	k = append(append(k, key...), 0)
	return binary.BigEndian.AppendUint32(k, i)
}

func isPartKey(key []byte) bool { return bytes.IndexByte(key, 0) >= 0 }

// chunkHeader encodes a chunked value's header.
func chunkHeader(n int, parts uint32) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, uint64(n)), uint64(parts))
}

func parseChunkHeader(h []byte) (n uint64, parts uint32, err error) {
	n, k := binary.Uvarint(h)
	p, k2 := binary.Uvarint(h[max(k, 0):])
	if k <= 0 || k2 <= 0 || p > 1<<20 || n > uint64(p)*chunkSize {
		return 0, 0, fmt.Errorf("%w: bad chunk header", errCorruptValue)
	}
	return n, uint32(p), nil
}

var errCorruptValue = errors.New("corrupt stored value")

// oldParts returns the number of parts key's current value has (0 when
// it is not chunked or absent).
func oldParts(txn *badger.Txn, key []byte) (uint32, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil || item.UserMeta() != metaChunked {
		return 0, err
	}
	var parts uint32
	err = item.Value(func(h []byte) error {
		_, parts, err = parseChunkHeader(h)
		return err
	})
	return parts, err
}

// entries turns one mutation into the badger operations that apply it:
// sets (entries) and deletes (keys), given the parts the key's current
// value has.
func entries(m detect.Mutation, old uint32) (sets []*badger.Entry, dels [][]byte) {
	var parts uint32
	if !m.Delete {
		if len(m.Value) <= chunkSize {
			sets = append(sets, ttl(badger.NewEntry(bytes.Clone(m.Key), bytes.Clone(m.Value)), m))
		} else {
			parts = uint32((len(m.Value) + chunkSize - 1) / chunkSize)
			sets = append(sets, ttl(badger.NewEntry(bytes.Clone(m.Key), chunkHeader(len(m.Value), parts)).WithMeta(metaChunked), m))
			for i := uint32(0); i < parts; i++ {
				lo := int(i) * chunkSize
				hi := min(lo+chunkSize, len(m.Value))
				sets = append(sets, ttl(badger.NewEntry(partKey(m.Key, i), bytes.Clone(m.Value[lo:hi])), m))
			}
		}
	} else {
		dels = append(dels, bytes.Clone(m.Key))
	}
	for i := parts; i < old; i++ {
		dels = append(dels, partKey(m.Key, i))
	}
	return sets, dels
}

func ttl(e *badger.Entry, m detect.Mutation) *badger.Entry {
	if m.TTL > 0 {
		return e.WithTTL(m.TTL)
	}
	return e
}

// readValue returns item's value, reassembled from its parts when it is
// chunked; the result is the caller's.
func readValue(txn *badger.Txn, item *badger.Item) ([]byte, error) {
	if item.UserMeta() != metaChunked {
		return item.ValueCopy(nil)
	}
	h, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	n, parts, err := parseChunkHeader(h)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, n)
	for i := uint32(0); i < parts; i++ {
		p, err := txn.Get(partKey(item.Key(), i))
		if err != nil {
			return nil, fmt.Errorf("%w: part %d: %v", errCorruptValue, i, err)
		}
		if err := p.Value(func(v []byte) error {
			out = append(out, v...)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if uint64(len(out)) != n {
		return nil, fmt.Errorf("%w: %d bytes in parts, header says %d", errCorruptValue, len(out), n)
	}
	return out, nil
}
