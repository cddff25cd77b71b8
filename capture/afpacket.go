package capture

import (
	"errors"
	"time"
)

// ErrLiveUnsupported is returned by OpenLive, OpenFanout and OpenInterfaces
// where live capture is not available (every system but Linux).
var ErrLiveUnsupported = errors.New("live capture needs Linux AF_PACKET")

// Defaults of LiveOptions.
const (
	defaultLiveBlockSize    = 1 << 20
	defaultLiveNumBlocks    = 32
	defaultLiveBlockTimeout = 100 * time.Millisecond
	maxLiveBlockSize        = 1 << 30
	maxLiveRingBytes        = 1 << 34
)

// LiveOptions configure a live capture. The zero value works: every frame,
// promiscuous mode, a 32 MiB ring per socket.
type LiveOptions struct {
	// Filter is a capture filter in tcpdump syntax (see Filter). It is
	// compiled to classic BPF and attached to each socket, so the kernel
	// drops what the filter rejects before it reaches the ring (see
	// CompileBPF for what stays for userspace to decide). Userspace must
	// still apply the parsed filter (reassembly.Options.Filter). Empty
	// means every frame.
	Filter string
	// SnapLen bounds the bytes kept of each frame; 0 means 262144. A
	// frame is also cut to what fits one block.
	SnapLen int
	// BlockSize is the size of one ring block in bytes, a multiple of the
	// page size; 0 means 1 MiB. NumBlocks is how many blocks each socket's
	// ring has; 0 means 32. The ring (BlockSize × NumBlocks per socket,
	// per interface) is the capture's memory bound: when userspace falls
	// that far behind, the kernel drops frames and counts them
	// (LiveStats.KernelDrops).
	BlockSize, NumBlocks int
	// BlockTimeout is how long the kernel may hold a partly filled block
	// before handing it over: the latency bound at low traffic. It also
	// sizes the ring in time: a block handed over at the timeout is closed
	// however little it holds, so a stalled reader has at least NumBlocks ×
	// BlockTimeout before drops begin. 0 means 100ms; it is rounded to
	// milliseconds.
	BlockTimeout time.Duration
	// NoPromisc leaves the interface's promiscuous mode alone; by default
	// each socket puts its interface in promiscuous mode for as long as it
	// is open (the kernel counts and undoes it on close).
	NoPromisc bool
	// FanoutID is the PACKET_FANOUT group id used by OpenFanout and
	// OpenInterfaces when they open more than one socket per interface; 0
	// lets the kernel choose unused ids. Groups are per network namespace:
	// two captures given the same id share their frames.
	FanoutID uint16
}

// LiveStats counts what a live capture saw. Kernel counters come from
// PACKET_STATISTICS, summed over the source's sockets since they opened.
type LiveStats struct {
	// Packets and Bytes count the frames Next delivered and their
	// lengths on the wire.
	Packets, Bytes uint64
	// Truncated counts delivered frames cut by SnapLen or the block size.
	Truncated uint64
	// Blocks counts the ring blocks consumed.
	Blocks uint64
	// KernelPackets counts the frames the kernel passed the filter and
	// tried to queue (delivered, still queued or dropped).
	KernelPackets uint64
	// KernelDrops counts the frames the kernel dropped because the ring
	// was full: userspace was too slow.
	KernelDrops uint64
	// KernelFreezes counts the times the ring was full and the kernel
	// froze the queue (TPACKET_V3 freeze_q_cnt).
	KernelFreezes uint64
	// SocketErrors counts errors the sockets reported (an interface going
	// down, for one); capture goes on after them.
	SocketErrors uint64
}

// add accumulates o into s.
func (s *LiveStats) add(o LiveStats) {
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.Truncated += o.Truncated
	s.Blocks += o.Blocks
	s.KernelPackets += o.KernelPackets
	s.KernelDrops += o.KernelDrops
	s.KernelFreezes += o.KernelFreezes
	s.SocketErrors += o.SocketErrors
}

// SumLiveStats adds up the counters of several live sources, such as the
// ones OpenFanout returns.
func SumLiveStats(srcs []*Live) LiveStats {
	var s LiveStats
	for _, l := range srcs {
		s.add(l.Stats())
	}
	return s
}

// OpenFanout opens n live sources on iface that share its frames by flow:
// PACKET_FANOUT_HASH, whose hash over addresses and ports is the same for
// both directions, so each source sees whole connections and can feed its
// own reassembly (reassembly.Run with Workers 1). n of 0 or less means 1.
// IPv4 fragments are reassembled by the kernel before hashing
// (PACKET_FANOUT_FLAG_DEFRAG) so they reach the same source as the rest of
// their flow; IPv6 fragments are not, and may reach another source than
// their flow's other packets. Tunnelled traffic is hashed on its outer
// headers: with encapsulated mirror traffic, open one source.
func OpenFanout(iface string, n int, opts LiveOptions) ([]*Live, error) {
	return OpenInterfaces([]string{iface}, n, opts)
}

// OpenLive opens a live source on one interface (a single socket, no
// fanout). Close it to release the ring and to end a blocked Next.
func OpenLive(iface string, opts LiveOptions) (*Live, error) {
	ls, err := OpenInterfaces([]string{iface}, 1, opts)
	if err != nil {
		return nil, err
	}
	return ls[0], nil
}
