package http2

import (
	"testing"
	"time"
)

// BenchmarkConn measures the frame, HPACK and stream path alone on a busy
// conversation (dynamic-table-heavy headers, bodies up to 20 KB), with
// allocs/op; streams/s is the rate.
func BenchmarkConn(b *testing.B) {
	cv := busyConvo(b, 1, 200)
	var size int64
	for _, ev := range cv.events {
		size += int64(len(ev.data))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	n := 0
	for i := 0; i < b.N; i++ {
		c := NewConn(Options{OnStream: func(*Stream) { n++ }})
		ts := time.Unix(0, 0)
		for _, ev := range cv.events {
			c.Feed(ev.dir, ev.data, ts)
		}
		c.Close(ts)
	}
	b.ReportMetric(float64(n)/float64(b.N), "streams/op")
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(n)/sec, "streams/s")
	}
}
