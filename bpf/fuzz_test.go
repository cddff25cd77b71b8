package bpf

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// FuzzRecords feeds arbitrary records (each prefixed by a 2-byte length)
// to the assembler: it must neither panic nor emit a transaction without
// its process.
func FuzzRecords(f *testing.F) {
	sc := newScript()
	sc.call(1, dirEgress, 0, roleClient, req("/a"), -1, 0)
	sc.call(1, dirIngress, 0, roleClient, resp("hello"), -1, 3, 1)
	sc.call(2, dirIngress, flagTLS, roleUnknown, req("/b")+req("/c"), 10, 0)
	sc.close(1)
	// A client end mirrored after its request, with a record in flight.
	sc.call(3, dirEgress, 0, roleClient, req("/m"), -1, 0)
	sc.recs = append(sc.recs, mirrorRec(sc, 3))
	sc.call(3, dirIngress, 0, roleClient, resp("late"), -1, 0)
	sc.close(3)
	var seed []byte
	for _, r := range sc.recs {
		seed = binary.LittleEndian.AppendUint16(seed, uint16(len(r)))
		seed = append(seed, r...)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		a := newAssembler(Options{MaxConnections: 4}, func(ns uint64) time.Time { return time.Unix(0, int64(ns>>1)) }, &userStats{},
			func(tx *reassembly.Transaction) {
				if tx.Process == nil {
					t.Fatal("transaction without process")
				}
			}, nil)
		for len(data) >= 2 {
			n := int(binary.LittleEndian.Uint16(data))
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			a.handle(data[:n])
			data = data[n:]
		}
		a.closeAll()
	})
}
