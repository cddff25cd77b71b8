//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Live is a live capture on Linux: one AF_PACKET socket per interface, each
// with a TPACKET_V3 ring mapped into memory, frames read in place. It
// implements Source. Next and Close may be called from different
// goroutines (Close ends a blocked Next, which then returns io.EOF); Stats
// is safe for concurrent use with both. Next itself is not safe for
// concurrent use. Packet.Data borrows the ring (or, for a frame whose VLAN
// tag the kernel stripped and Next put back, a buffer of the Live) until
// the next call to Next.
//
// Packet timestamps are the kernel's receive times.
//
// reassembly.Run reads a Live until Next fails; to stop it, Close the Live
// (context.AfterFunc(ctx, func() { l.Close() })): Run then ends as at the
// end of a file, flushing its connections.
type Live struct {
	rings   []*ring
	efd     int // eventfd that Close writes to wake Next
	pfds    []unix.PollFd
	cur     int    // ring Next reads first
	scratch []byte // frames with their VLAN tag put back

	filterInKernel bool

	mu       sync.Mutex // held by Next while it runs; Close waits for it
	closed   atomic.Bool
	once     sync.Once
	lent     bool     // the last Next returned a frame (under mu)
	overlaid [][]byte // ring ranges Close replaced with zero pages (under mu)

	packets, bytes, truncated, blocks, sockErrs atomic.Uint64

	statsMu sync.Mutex // guards kernel and the sockets' lifetime for Stats
	kernel  LiveStats  // kernel counters accumulated so far
	freed   bool       // sockets closed
}

// ring is one socket and its mapped TPACKET_V3 ring.
type ring struct {
	iface     string
	fd        int
	mem       []byte
	blockSize int
	numBlocks int
	blk       int    // block being read, or next to look at
	held      bool   // block blk belongs to us until released
	left      uint32 // frames not yet read in the held block
	off       int    // offset in mem of the next frame's header
}

// pollInterval bounds how long Next sleeps before looking at the rings
// again even without a wake-up.
const pollInterval = 100 * time.Millisecond

// OpenInterfaces opens n live sources that together capture every listed
// interface. Each source reads one socket per interface; with n > 1 the n
// sockets of an interface form one PACKET_FANOUT_HASH group (see
// OpenFanout), so each source sees whole connections of every interface.
// With FanoutID set, interface k uses group FanoutID+k. n of 0 or less
// means 1. Opening needs CAP_NET_RAW (errors match os.ErrPermission
// without it); the interfaces must be Ethernet or loopback. On error,
// whatever was opened is closed.
func OpenInterfaces(ifaces []string, n int, opts LiveOptions) ([]*Live, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("live capture: no interface given")
	}
	for i, iface := range ifaces {
		if slices.Contains(ifaces[:i], iface) {
			return nil, fmt.Errorf("live capture: interface %s given twice", iface)
		}
	}
	n = max(n, 1)
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	prog, inKernel, err := liveProgram(o)
	if err != nil {
		return nil, err
	}
	lives := make([]*Live, 0, n)
	fail := func(err error) ([]*Live, error) {
		for _, l := range lives {
			l.Close()
		}
		return nil, err
	}
	for range n {
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fail(fmt.Errorf("live capture: eventfd: %w", err))
		}
		lives = append(lives, &Live{efd: efd, filterInKernel: inKernel})
	}
	for k, iface := range ifaces {
		id, auto := o.FanoutID+uint16(k), o.FanoutID == 0
		for i, l := range lives {
			r, err := openRing(iface, o, prog)
			if err != nil {
				return fail(err)
			}
			l.rings = append(l.rings, r)
			if n == 1 {
				continue
			}
			if id, err = r.joinFanout(id, auto && i == 0); err != nil {
				return fail(err)
			}
		}
	}
	for _, l := range lives {
		for _, r := range l.rings {
			l.pfds = append(l.pfds, unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN})
		}
		l.pfds = append(l.pfds, unix.PollFd{Fd: int32(l.efd), Events: unix.POLLIN})
	}
	return lives, nil
}

// withDefaults fills in and checks the options.
func (o LiveOptions) withDefaults() (LiveOptions, error) {
	page := unix.Getpagesize()
	if o.SnapLen <= 0 {
		o.SnapLen = defaultSnapLen
	}
	if o.BlockSize <= 0 {
		o.BlockSize = defaultLiveBlockSize
	}
	if o.NumBlocks <= 0 {
		o.NumBlocks = defaultLiveNumBlocks
	}
	if o.BlockTimeout <= 0 {
		o.BlockTimeout = defaultLiveBlockTimeout
	}
	switch {
	case o.BlockSize%page != 0 || o.BlockSize > maxLiveBlockSize:
		return o, fmt.Errorf("live capture: block size %d is not a multiple of the page size %d up to %d", o.BlockSize, page, maxLiveBlockSize)
	case o.BlockSize*o.NumBlocks > maxLiveRingBytes:
		return o, fmt.Errorf("live capture: ring of %d × %d bytes is larger than %d", o.NumBlocks, o.BlockSize, maxLiveRingBytes)
	}
	return o, nil
}

// liveProgram compiles the filter; one too long for the kernel leaves the
// kernel keeping every frame (cut to the snap length).
func liveProgram(o LiveOptions) ([]bpf.RawInstruction, bool, error) {
	raw, err := AssembleBPF(o.Filter, o.SnapLen)
	if errors.Is(err, ErrFilterTooLarge) {
		raw, err = AssembleBPF("", o.SnapLen)
		return raw, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return raw, o.Filter != "", nil
}

// frameSize is the TPACKET_V3 frame size the ring request names; V3 packs
// frames of any size into blocks, the kernel only checks it divides them.
const frameSize = 1 << 11

// openRing opens a socket on iface, sets up its ring and filter and binds
// it.
func openRing(iface string, o LiveOptions, prog []bpf.RawInstruction) (_ *ring, err error) {
	wrap := func(what string, err error) error {
		return fmt.Errorf("live capture on %s: %s: %w", iface, what, err)
	}
	// Protocol 0: no frame reaches the socket before bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, wrap("opening AF_PACKET socket (needs CAP_NET_RAW)", err)
	}
	r := &ring{iface: iface, fd: fd, blockSize: o.BlockSize, numBlocks: o.NumBlocks}
	defer func() {
		if err != nil {
			r.free()
		}
	}()
	ifr, err := unix.NewIfreq(iface)
	if err != nil {
		return nil, wrap("interface name", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return nil, wrap("finding the interface", err)
	}
	ifindex := int(ifr.Uint32())
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return nil, wrap("reading the link type", err)
	}
	if hw := ifr.Uint16(); hw != unix.ARPHRD_ETHER && hw != unix.ARPHRD_LOOPBACK {
		return nil, wrap("link type", fmt.Errorf("ARPHRD %d is neither Ethernet nor loopback", hw))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, wrap("asking for TPACKET_V3", err)
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(o.BlockSize),
		Block_nr:       uint32(o.NumBlocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(o.BlockSize / frameSize * o.NumBlocks),
		Retire_blk_tov: uint32(max(o.BlockTimeout/time.Millisecond, 1)),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, wrap(fmt.Sprintf("setting up a ring of %d × %d bytes", o.NumBlocks, o.BlockSize), err)
	}
	r.mem, err = unix.Mmap(fd, 0, o.BlockSize*o.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED)
	if err != nil {
		// MAP_LOCKED can fail under RLIMIT_MEMLOCK; the ring works unlocked.
		r.mem, err = unix.Mmap(fd, 0, o.BlockSize*o.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, wrap("mapping the ring", err)
		}
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return nil, wrap("attaching the filter", err)
	}
	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, &sa); err != nil {
		return nil, wrap("binding", err)
	}
	if !o.NoPromisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, wrap("entering promiscuous mode", err)
		}
	}
	return r, nil
}

// joinFanout puts the socket in hash fanout group id, or, with unique set,
// in a new group whose id the kernel picks. It returns the group's id.
func (r *ring) joinFanout(id uint16, unique bool) (uint16, error) {
	typ := unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_DEFRAG
	if unique {
		typ |= unix.PACKET_FANOUT_FLAG_UNIQUEID
		id = 0
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, int(id)|typ<<16); err != nil {
		return 0, fmt.Errorf("live capture on %s: joining fanout group %d: %w", r.iface, id, err)
	}
	if unique {
		v, err := unix.GetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return 0, fmt.Errorf("live capture on %s: reading the fanout group: %w", r.iface, err)
		}
		id = uint16(v)
	}
	return id, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// free unmaps the ring and closes the socket.
func (r *ring) free() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// blockHdr returns the header of block b.
func (r *ring) blockHdr(b int) *unix.TpacketHdrV1 {
	bd := (*unix.TpacketBlockDesc)(unsafe.Pointer(&r.mem[b*r.blockSize]))
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&bd.Hdr[0]))
}

// Next fills p with the next frame, waiting for one. After Close it
// returns io.EOF.
func (l *Live) Next(p *Packet) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lent = false
	for {
		if l.closed.Load() {
			if l.overlaid != nil {
				unmapAll(l.overlaid)
				l.overlaid = nil
			}
			return io.EOF
		}
		for range l.rings {
			if l.frame(l.rings[l.cur], p) {
				l.lent = true
				return nil
			}
			l.cur = (l.cur + 1) % len(l.rings)
		}
		if err := l.wait(); err != nil {
			return err
		}
	}
}

// frame delivers r's next frame into p, releasing finished blocks to the
// kernel, or reports there is none yet.
func (l *Live) frame(r *ring, p *Packet) bool {
	for r.left == 0 {
		if r.held {
			atomic.StoreUint32(&r.blockHdr(r.blk).Block_status, unix.TP_STATUS_KERNEL)
			r.held = false
			r.blk = (r.blk + 1) % r.numBlocks
			l.blocks.Add(1)
		}
		bh := r.blockHdr(r.blk)
		if atomic.LoadUint32(&bh.Block_status)&unix.TP_STATUS_USER == 0 {
			return false
		}
		r.held = true
		r.left = bh.Num_pkts
		r.off = r.blk*r.blockSize + int(bh.Offset_to_first_pkt)
		if int(bh.Offset_to_first_pkt)+int(unsafe.Sizeof(unix.Tpacket3Hdr{})) > r.blockSize {
			r.left = 0 // not a block the kernel wrote
		}
	}
	end := (r.blk + 1) * r.blockSize
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[r.off]))
	start := r.off + int(h.Mac)
	stop := start + int(h.Snaplen)
	if stop > end || start > stop {
		// Not a frame the kernel wrote: give up on the rest of the block.
		r.left = 0
		return l.frame(r, p)
	}
	data := r.mem[start:stop:stop]
	wire := int(h.Len)
	if h.Status&unix.TP_STATUS_VLAN_VALID != 0 && len(data) >= 12 {
		tpid := uint16(unix.ETH_P_8021Q)
		if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && h.Hv1.Vlan_tpid != 0 {
			tpid = h.Hv1.Vlan_tpid
		}
		data = l.retag(data, tpid, uint16(h.Hv1.Vlan_tci))
		wire += 4
	}
	p.Timestamp = time.Unix(int64(h.Sec), int64(h.Nsec))
	p.LinkType = layers.LinkTypeEthernet
	p.Data = data
	p.WireLen = max(wire, len(data))
	l.packets.Add(1)
	l.bytes.Add(uint64(p.WireLen))
	if len(data) < wire {
		l.truncated.Add(1)
	}
	r.left--
	if r.left == 0 {
		r.off = end
	} else {
		r.off += int(h.Next_offset)
		if h.Next_offset == 0 || r.off+int(unsafe.Sizeof(*h)) > end {
			r.left = 0
		}
	}
	return true
}

// retag puts back the VLAN tag the kernel took out of data into the
// Live's buffer.
func (l *Live) retag(data []byte, tpid, tci uint16) []byte {
	if cap(l.scratch) < len(data)+4 {
		l.scratch = make([]byte, 0, max(len(data)+4, 2048))
	}
	b := l.scratch[:len(data)+4]
	copy(b, data[:12])
	binary.BigEndian.PutUint16(b[12:], tpid)
	binary.BigEndian.PutUint16(b[14:], tci)
	copy(b[16:], data[12:])
	return b
}

// wait sleeps until a ring may have a block for us or Close is called.
func (l *Live) wait() error {
	for i := range l.pfds {
		l.pfds[i].Revents = 0
	}
	_, err := unix.Poll(l.pfds, int(pollInterval/time.Millisecond))
	if err != nil && err != unix.EINTR {
		return fmt.Errorf("live capture: poll: %w", err)
	}
	for i, r := range l.rings {
		if l.pfds[i].Revents&(unix.POLLERR|unix.POLLNVAL) == 0 {
			continue
		}
		// The socket reports an error: reading SO_ERROR clears it. A
		// device that went down comes back by itself; one that is gone
		// does not.
		l.sockErrs.Add(1)
		serr, err := unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return fmt.Errorf("live capture on %s: %w", r.iface, err)
		}
		if e := unix.Errno(serr); e == unix.ENODEV || e == unix.ENXIO {
			return fmt.Errorf("live capture on %s: %w", r.iface, e)
		}
	}
	return nil
}

// Close ends the capture: a blocked Next returns io.EOF, the sockets are
// closed (which also leaves promiscuous mode) and the rings' memory goes
// back to the kernel. It may be called more than once and from any
// goroutine. The frame the last Next returned may still be in use on
// another goroutine: its bytes then read as zeros rather than fault, and
// the address range is released by the next call to Next (which returns
// io.EOF) or when the Live is garbage.
func (l *Live) Close() error {
	l.once.Do(func() {
		// Wake Next before it may see closed and release the eventfd.
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(l.efd, one[:])
		l.closed.Store(true)
		l.mu.Lock() // Next has returned and will not touch the rings again
		defer l.mu.Unlock()
		l.statsMu.Lock()
		l.readKernelStats()
		l.freed = true
		l.statsMu.Unlock()
		var overlaid [][]byte
		for _, r := range l.rings {
			if l.lent && r.mem != nil {
				// Swap the ring for zero pages at the same addresses.
				if _, err := unix.MmapPtr(-1, 0, unsafe.Pointer(&r.mem[0]), uintptr(len(r.mem)),
					unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED); err == nil {
					overlaid = append(overlaid, r.mem)
					r.mem = nil
				}
			}
			r.free()
		}
		unix.Close(l.efd)
		l.efd = -1
		if overlaid != nil {
			l.overlaid = overlaid
			runtime.AddCleanup(l, unmapAll, overlaid)
		}
	})
	return nil
}

// unmapAll unmaps what Close left mapped.
func unmapAll(mems [][]byte) {
	for _, m := range mems {
		unix.Munmap(m) // a second call finds nothing and does nothing
	}
}

// readKernelStats adds the sockets' counters, which reading resets, to
// l.kernel. The caller holds statsMu.
func (l *Live) readKernelStats() {
	if l.freed {
		return
	}
	for _, r := range l.rings {
		st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			continue
		}
		l.kernel.KernelPackets += uint64(st.Packets)
		l.kernel.KernelDrops += uint64(st.Drops)
		l.kernel.KernelFreezes += uint64(st.Freeze_q_cnt)
	}
}

// Stats returns the counters so far. It is safe to call at any time, also
// after Close (the counters are then final).
func (l *Live) Stats() LiveStats {
	l.statsMu.Lock()
	l.readKernelStats()
	s := l.kernel
	l.statsMu.Unlock()
	s.Packets = l.packets.Load()
	s.Bytes = l.bytes.Load()
	s.Truncated = l.truncated.Load()
	s.Blocks = l.blocks.Load()
	s.SocketErrors = l.sockErrs.Load()
	return s
}

// FilterInKernel reports whether LiveOptions.Filter runs in the kernel. It
// is false without a filter and when the filter compiles to more
// instructions than the kernel takes (every frame then reaches
// userspace, where the filter still applies).
func (l *Live) FilterInKernel() bool { return l.filterInKernel }

// Interfaces returns the interfaces the source reads, in order.
func (l *Live) Interfaces() []string {
	out := make([]string, len(l.rings))
	for i, r := range l.rings {
		out[i] = r.iface
	}
	return out
}
