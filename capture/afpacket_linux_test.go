//go:build linux

package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// liveFrames builds n Ethernet/IPv4 frames of flow i%flows, alternating
// direction, to port 80 or from it, each with a distinct payload.
func liveFrames(n, flows int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		f := i % flows
		cli := mkDecoded("10.1.0.1", "10.2.0.1", uint16(30000+f), 80, ProtoTCP)
		cli.Key.Src[15] = byte(f)
		cli.Key.Src[14] = byte(f >> 8)
		d := cli
		if i/flows%2 == 1 {
			rev := *cli
			rev.Key = cli.Key.Reverse()
			d = &rev
		}
		fr := frame(d)
		out[i] = append(fr, byte(i>>16), byte(i>>8), byte(i))
	}
	return out
}

// readN reads n frames from l, failing after timeout.
func readN(t *testing.T, l *Live, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	done := make(chan error, 1)
	go func() {
		var p Packet
		for len(got) < n {
			if err := l.Next(&p); err != nil {
				done <- err
				return
			}
			got = append(got, bytes.Clone(p.Data))
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after %d of %d frames: %v", len(got), n, err)
		}
	case <-time.After(timeout):
		l.Close()
		<-done
		t.Fatalf("only %d of %d frames within %v", len(got), n, timeout)
	}
	return got
}

func TestLiveFilterAndFrames(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{Filter: "tcp port 80", BlockSize: 1 << 16, NumBlocks: 8})[0]
	if !l.FilterInKernel() {
		t.Fatal("the filter is not in the kernel")
	}
	s := ns.sender("tx0")
	http := frame(mkDecoded("10.0.0.1", "10.0.0.2", 40000, 80, ProtoTCP))
	dns := frame(mkDecoded("10.0.0.1", "10.0.0.2", 5353, 53, ProtoUDP))
	http6 := frame(mkDecoded("2001:db8::1", "2001:db8::2", 80, 40000, ProtoTCP))
	arp := serialize(t, ethL(layers.EthernetTypeARP), payload(string(make([]byte, 28))))
	tagged := vlanTag(http, 0x8100)
	qinq := vlanTag(http6, 0x88a8, 0x8100)
	before := time.Now()
	var want [][]byte
	for i := range 50 {
		for _, fr := range [][]byte{http, dns, arp, http6, tagged, qinq} {
			fr = append(bytes.Clone(fr), byte(i))
			s.send(t, fr)
			if !bytes.Equal(fr[:len(fr)-1], dns) && !bytes.Equal(fr[:len(fr)-1], arp) {
				want = append(want, fr)
			}
		}
	}
	var p Packet
	for i, w := range want {
		if err := l.Next(&p); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(p.Data, w) {
			t.Fatalf("frame %d:\n got % x\nwant % x", i, p.Data, w)
		}
		if p.WireLen != len(w) || p.LinkType != layers.LinkTypeEthernet {
			t.Fatalf("frame %d: wire length %d (want %d), link type %v", i, p.WireLen, len(w), p.LinkType)
		}
		if p.Timestamp.Before(before.Add(-time.Second)) || p.Timestamp.After(time.Now().Add(time.Second)) {
			t.Fatalf("frame %d: timestamp %v is not a receive time (test ran from %v)", i, p.Timestamp, before)
		}
	}
	st := l.Stats()
	if st.Packets != uint64(len(want)) || st.KernelDrops != 0 || st.KernelPackets != uint64(len(want)) {
		t.Fatalf("stats %+v: want %d packets, all through the kernel filter, none dropped", st, len(want))
	}
	l.Close()
	if err := l.Next(&p); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after Close: %v, want io.EOF", err)
	}
	if st2 := l.Stats(); st2.Packets != st.Packets {
		t.Fatalf("stats after Close %+v, before %+v", st2, st)
	}
}

func TestLiveSnapLen(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{SnapLen: 64, BlockSize: 1 << 16, NumBlocks: 4})[0]
	s := ns.sender("tx0")
	fr := append(frame(mkDecoded("10.0.0.1", "10.0.0.2", 40000, 80, ProtoTCP)), make([]byte, 500)...)
	s.send(t, fr)
	var p Packet
	if err := l.Next(&p); err != nil {
		t.Fatal(err)
	}
	if len(p.Data) != 64 || p.WireLen != len(fr) || !bytes.Equal(p.Data, fr[:64]) {
		t.Fatalf("got %d bytes of %d on the wire; want 64 of %d", len(p.Data), p.WireLen, len(fr))
	}
	if st := l.Stats(); st.Truncated != 1 {
		t.Fatalf("Truncated = %d, want 1", st.Truncated)
	}
}

func TestLiveCloseUnblocksNext(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{BlockSize: 1 << 16, NumBlocks: 4})[0]
	done := make(chan error, 1)
	go func() {
		var p Packet
		done <- l.Next(&p)
	}()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("Next: %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still blocked 10s after Close")
	}
	l.Close() // twice is fine
}

// TestLiveFanout checks every frame arrives exactly once and both
// directions of a flow reach the same source.
func TestLiveFanout(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	const n, flows, total = 3, 64, 64 * 20
	ls := ns.OpenIn([]string{"rx0"}, n, LiveOptions{BlockSize: 1 << 16, NumBlocks: 16})
	s := ns.sender("tx0")
	for _, fr := range liveFrames(total, flows) {
		s.send(t, fr)
	}
	owner := map[FlowKey]int{}
	seen := map[string]bool{}
	var mu sync.Mutex
	dec := make([]*Decoder, n)
	var wg sync.WaitGroup
	for i, l := range ls {
		dec[i] = NewDecoder(DecoderOptions{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p Packet
			var d Decoded
			for {
				if err := l.Next(&p); err != nil {
					return
				}
				if !dec[i].Decode(&p, &d) {
					t.Errorf("source %d: undecodable frame % x", i, p.Data)
					continue
				}
				k := d.Key
				if k.SrcPort == 80 {
					k = k.Reverse()
				}
				mu.Lock()
				if o, ok := owner[k]; ok && o != i {
					t.Errorf("flow %v reached sources %d and %d", k, o, i)
				}
				owner[k] = i
				if seen[string(p.Data)] {
					t.Errorf("frame delivered twice")
				}
				seen[string(p.Data)] = true
				mu.Unlock()
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for SumLiveStats(ls).Packets < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, l := range ls {
		l.Close()
	}
	wg.Wait()
	st := SumLiveStats(ls)
	if st.Packets != total || len(seen) != total || st.KernelDrops != 0 {
		t.Fatalf("%d frames delivered (%d distinct), stats %+v; want %d", st.Packets, len(seen), st, total)
	}
	used := map[int]int{}
	for _, o := range owner {
		used[o]++
	}
	if len(owner) != flows || len(used) < 2 {
		t.Fatalf("%d flows over sources %v: the fanout did not spread %d flows", len(owner), used, flows)
	}
	t.Logf("flows per source: %v", used)
}

func TestLiveInterfaces(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"}, [2]string{"tx1", "rx1"})
	ls := ns.OpenIn([]string{"rx0", "rx1"}, 2, LiveOptions{BlockSize: 1 << 16, NumBlocks: 4})
	if got := ls[1].Interfaces(); len(got) != 2 || got[0] != "rx0" || got[1] != "rx1" {
		t.Fatalf("Interfaces() = %v", got)
	}
	frames := liveFrames(200, 50)
	s0, s1 := ns.sender("tx0"), ns.sender("tx1")
	for i, fr := range frames {
		if i%2 == 0 {
			s0.send(t, fr)
		} else {
			s1.send(t, fr)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var got int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p Packet
			for l.Next(&p) == nil {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}()
	}
	for SumLiveStats(ls).Packets < uint64(len(frames)) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, l := range ls {
		l.Close()
	}
	wg.Wait()
	if got != len(frames) {
		t.Fatalf("%d of %d frames from two interfaces", got, len(frames))
	}
}

// TestLiveNextAllocs pins the zero-allocation read path, VLAN tags put back
// included (after the first).
func TestLiveNextAllocs(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{Filter: "tcp", BlockSize: 1 << 20, NumBlocks: 8})[0]
	s := ns.sender("tx0")
	const runs = 400
	// AllocsPerRun reads runs+1 frames after the first; the rest are slack
	// for frames a busy host drops before they reach the socket.
	frames := liveFrames(runs+2+100, 10)
	for i, fr := range frames {
		if i%3 == 0 {
			fr = vlanTag(fr, 0x8100)
		}
		s.send(t, fr)
	}
	var p Packet
	if err := l.Next(&p); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(runs, func() {
		if err := l.Next(&p); err != nil {
			t.Fatalf("%v after %+v (%d frames sent)", err, l.Stats(), len(frames))
		}
	})
	if allocs != 0 {
		t.Fatalf("Next allocates %.2f times per frame", allocs)
	}
}

func TestOpenLiveErrors(t *testing.T) {
	if _, err := OpenLive("rx0", LiveOptions{Filter: "tcp[13] & 2 != 0"}); !errors.Is(err, ErrBadFilter) {
		t.Errorf("bad filter: %v, want ErrBadFilter", err)
	}
	if _, err := OpenLive("rx0", LiveOptions{BlockSize: 1000}); err == nil {
		t.Error("block size 1000 accepted")
	}
	if _, err := OpenInterfaces(nil, 1, LiveOptions{}); err == nil {
		t.Error("no interface accepted")
	}
	if _, err := OpenInterfaces([]string{"rx0", "rx1", "rx0"}, 1, LiveOptions{}); err == nil {
		t.Error("an interface given twice accepted")
	}
	requireNetns(t)
	ns := newTestNetns(t)
	ns.Do(func() {
		if _, err := OpenLive("no-such-if0", LiveOptions{}); err == nil {
			t.Error("a missing interface accepted")
		}
	})
}

// TestLiveCloseWhileFrameLent closes the source while the frame Next
// returned is still being read: the bytes turn to zeros instead of
// faulting, and the next Next returns io.EOF.
func TestLiveCloseWhileFrameLent(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{BlockSize: 1 << 16, NumBlocks: 4})[0]
	s := ns.sender("tx0")
	fr := frame(mkDecoded("10.0.0.1", "10.0.0.2", 40000, 80, ProtoTCP))
	s.send(t, fr)
	var p Packet
	if err := l.Next(&p); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Data, fr) {
		t.Fatalf("got % x", p.Data)
	}
	l.Close()
	if !bytes.Equal(p.Data, make([]byte, len(fr))) {
		t.Fatalf("after Close the lent frame reads % x, want zeros", p.Data)
	}
	if err := l.Next(&p); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// promiscuity returns the interface's promiscuity count (ip -d link),
// which packet sockets raise; the IFF_PROMISC flag shows only what was
// set by hand.
func (ns *testNetns) promiscuity(iface string) int {
	ns.t.Helper()
	out, err := exec.Command("ip", "-n", ns.Name, "-d", "link", "show", iface).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("ip link show %s: %v: %s", iface, err, out)
	}
	m := regexp.MustCompile(`promiscuity (\d+)`).FindSubmatch(out)
	if m == nil {
		ns.t.Fatalf("no promiscuity in %s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func TestLivePromisc(t *testing.T) {
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	if ns.promiscuity("rx0") != 0 {
		t.Fatal("rx0 promiscuous before the capture")
	}
	quiet := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{NoPromisc: true, BlockSize: 1 << 16, NumBlocks: 2})[0]
	if ns.promiscuity("rx0") != 0 {
		t.Fatal("NoPromisc: rx0 promiscuous")
	}
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{BlockSize: 1 << 16, NumBlocks: 2})[0]
	if ns.promiscuity("rx0") == 0 {
		t.Fatal("rx0 not promiscuous during the capture")
	}
	l.Close()
	quiet.Close()
	if ns.promiscuity("rx0") != 0 {
		t.Fatal("rx0 still promiscuous after Close")
	}
}

// TestLiveFilterTooLarge checks a filter too long for the kernel leaves
// the kernel keeping every frame (the filter still applies in userspace).
func TestLiveFilterTooLarge(t *testing.T) {
	var b strings.Builder
	b.WriteString("host 2001:db8::1")
	for i := 2; i < 400; i++ {
		fmt.Fprintf(&b, " or 2001:db8::%x", i)
	}
	ns := newTestNetns(t, [2]string{"tx0", "rx0"})
	l := ns.OpenIn([]string{"rx0"}, 1, LiveOptions{Filter: b.String(), BlockSize: 1 << 16, NumBlocks: 2})[0]
	if l.FilterInKernel() {
		t.Fatal("a filter over the kernel's limit reported in the kernel")
	}
	fr := frame(mkDecoded("10.0.0.1", "10.0.0.2", 40000, 80, ProtoTCP))
	ns.sender("tx0").send(t, fr)
	if got := readN(t, l, 1, 10*time.Second); !bytes.Equal(got[0], fr) {
		t.Fatalf("got % x", got[0])
	}
}
