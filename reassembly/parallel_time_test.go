package reassembly

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
)

// TestRecTime: a time recTime accepts is made again by recStamp as the
// very same time.Time (==, location and all), with its stamp; others are
// refused.
func TestRecTime(t *testing.T) {
	base := time.Unix(1_700_000_000, 123456789)
	tests := []struct {
		name  string
		ts    time.Time
		plain bool
	}{
		{"unix", base, true},
		{"unix, whole second", time.Unix(1_700_000_000, 0), true},
		{"epoch", time.Unix(0, 0), true},
		{"last second", time.Unix(1<<32-1, 999999999), true},
		{"after 2106", time.Unix(1<<32, 0), false},
		{"before 1970", time.Unix(-1, 999999999), false},
		{"zero", time.Time{}, false},
		{"UTC", base.UTC(), false},
		{"fixed zone", base.In(time.FixedZone("x", 3600)), false},
		{"monotonic", time.Now(), false},
		{"monotonic stripped", time.Now().Round(0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec, nsec, ok := recTime(tt.ts)
			if ok != tt.plain {
				t.Fatalf("recTime(%v) ok = %v, want %v", tt.ts, ok, tt.plain)
			}
			if !ok {
				return
			}
			if got, want := recStamp(sec, nsec), stampOf(tt.ts); got != want {
				t.Errorf("recStamp: %#v, want %#v", got, want)
			}
		})
	}
}

// TestParallelKeepsTimes: the workers hand the shards each segment's
// capture time exactly as dispatched, whether the record carries it as a
// key or the batch keeps it aside (UTC, another zone, a monotonic
// reading): the transactions' times are those of their packets.
func TestParallelKeepsTimes(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	kinds := []struct {
		name string
		at   func(i int) time.Time
	}{
		{"unix", func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond) }},
		{"UTC", func(i int) time.Time { return base.Add(time.Duration(i) * time.Millisecond).UTC() }},
		{"zone", func(i int) time.Time {
			return base.Add(time.Duration(i) * time.Millisecond).In(time.FixedZone("x", -7200))
		}},
		{"mixed", func(i int) time.Time {
			ts := base.Add(time.Duration(i) * time.Millisecond)
			if i%3 == 1 {
				return ts.UTC()
			}
			return ts
		}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			o := Options{Workers: 2}.withDefaults()
			shards := make([]*shard, shardCount)
			for i := range shards {
				shards[i] = newShard(&o, shardCount, nil)
			}
			type times struct{ req, resp time.Time }
			var got []times
			p := startParallel(&o, shards, func(tx *Transaction) {
				got = append(got, times{tx.RequestTime, tx.ResponseTime})
			})
			var (
				clk  clock
				idx  uint64
				sent []time.Time
			)
			feed := func(d capture.Decoded, seq, ack uint32) {
				d.TCP.Seq, d.TCP.Ack = seq, ack
				binary.BigEndian.PutUint32(d.TCP.Contents[4:], seq)
				binary.BigEndian.PutUint32(d.TCP.Contents[8:], ack)
				d.Timestamp = k.at(int(idx))
				sent = append(sent, d.Timestamp)
				idx++
				st := stampOf(d.Timestamp)
				tick := clk.advanceTo(&st)
				p.dispatch(shardOf(&d.Key), &d, idx, &st)
				if tick {
					p.tick(idx, clk.now)
				}
			}
			const exchanges = 600 // more than a batch
			feed(steadySeg(t, 0, false, "S", ""), 1000, 0)
			feed(steadySeg(t, 0, true, "S", ""), 5000, 1001)
			cseq, sseq := uint32(1001), uint32(5001)
			for i := 0; i < exchanges; i++ {
				feed(steadySeg(t, 0, false, "", steadyReq), cseq, sseq)
				cseq += uint32(len(steadyReq))
				feed(steadySeg(t, 0, true, "", steadyResp), sseq, cseq)
				sseq += uint32(len(steadyResp))
			}
			p.stop()
			if len(got) != exchanges {
				t.Fatalf("%d transactions, want %d", len(got), exchanges)
			}
			for i, g := range got {
				want := times{sent[2+2*i], sent[3+2*i]}
				if g != want {
					t.Fatalf("transaction %d: times %#v, want %#v", i, g, want)
				}
			}
		})
	}
}
