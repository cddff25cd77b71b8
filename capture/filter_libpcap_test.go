package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// This file checks the filter against libpcap itself: dumpcap compiles an
// expression to BPF (dumpcap -d), the BPF runs in x/net/bpf's interpreter
// over Ethernet frames, and Match must agree with it on the same packets.

var bpfLine = regexp.MustCompile(`^\((\d+)\)\s+(\w+)\s*(.*)$`)

// libpcapCompile returns the BPF program libpcap makes of expr for an
// Ethernet link, or ok=false and libpcap's reason when it rejects expr.
func libpcapCompile(t *testing.T, expr string) (prog []bpf.Instruction, ok bool, reason string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("dumpcap", "-i", "lo", "-d", "-f", expr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if strings.Contains(stderr.String(), "Invalid capture filter") {
		reason := stderr.String()
		if m := regexp.MustCompile(`valid capture filter \((.*)\)`).FindStringSubmatch(reason); m != nil {
			reason = m[1]
		}
		return nil, false, reason
	}
	if err != nil {
		t.Skipf("dumpcap cannot compile filters here: %v: %s", err, stderr.String())
	}
	for line := range strings.Lines(stdout.String()) {
		m := bpfLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		pc, _ := strconv.Atoi(m[1])
		ins, err := bpfInstruction(pc, m[2], strings.Fields(m[3]))
		if err != nil {
			t.Fatalf("dumpcap output %q: %v", line, err)
		}
		prog = append(prog, ins)
	}
	if len(prog) == 0 {
		t.Fatalf("no BPF from dumpcap for %q: %s", expr, stdout.String())
	}
	return prog, true, ""
}

// bpfInstruction translates one line of libpcap's bpf_image output.
func bpfInstruction(pc int, op string, args []string) (bpf.Instruction, error) {
	num := func(s string) (uint32, error) {
		s = strings.TrimPrefix(s, "#")
		v, err := strconv.ParseUint(s, 0, 32)
		return uint32(v), err
	}
	arg := strings.Join(args, " ")
	size := map[string]int{"ld": 4, "ldh": 2, "ldb": 1}
	switch op {
	case "ld", "ldh", "ldb":
		var k uint32
		if _, err := fmt.Sscanf(arg, "[x + %d]", &k); err == nil {
			return bpf.LoadIndirect{Off: k, Size: size[op]}, nil
		}
		if _, err := fmt.Sscanf(arg, "[%d]", &k); err == nil {
			return bpf.LoadAbsolute{Off: k, Size: size[op]}, nil
		}
		if op == "ld" && strings.HasPrefix(arg, "#") {
			v, err := num(arg)
			return bpf.LoadConstant{Dst: bpf.RegA, Val: v}, err
		}
	case "ldxb":
		var k uint32
		if _, err := fmt.Sscanf(arg, "4*([%d]&0xf)", &k); err == nil {
			return bpf.LoadMemShift{Off: k}, nil
		}
	case "and", "or", "add", "sub", "lsh", "rsh":
		v, err := num(arg)
		ops := map[string]bpf.ALUOp{"and": bpf.ALUOpAnd, "or": bpf.ALUOpOr, "add": bpf.ALUOpAdd, "sub": bpf.ALUOpSub, "lsh": bpf.ALUOpShiftLeft, "rsh": bpf.ALUOpShiftRight}
		return bpf.ALUOpConstant{Op: ops[op], Val: v}, err
	case "jeq", "jgt", "jge", "jset":
		if len(args) == 5 && args[1] == "jt" && args[3] == "jf" {
			v, err1 := num(args[0])
			jt, err2 := strconv.Atoi(args[2])
			jf, err3 := strconv.Atoi(args[4])
			if err1 == nil && err2 == nil && err3 == nil {
				conds := map[string]bpf.JumpTest{"jeq": bpf.JumpEqual, "jgt": bpf.JumpGreaterThan, "jge": bpf.JumpGreaterOrEqual, "jset": bpf.JumpBitsSet}
				return bpf.JumpIf{Cond: conds[op], Val: v, SkipTrue: uint8(jt - pc - 1), SkipFalse: uint8(jf - pc - 1)}, nil
			}
		}
	case "ja":
		if len(args) == 1 {
			to, err := strconv.Atoi(args[0])
			return bpf.Jump{Skip: uint32(to - pc - 1)}, err
		}
	case "ret":
		if arg == "" || arg == "a" {
			return bpf.RetA{}, nil
		}
		v, err := num(arg)
		return bpf.RetConstant{Val: v}, err
	case "tax":
		return bpf.TAX{}, nil
	case "txa":
		return bpf.TXA{}, nil
	}
	return nil, fmt.Errorf("instruction %s %s not understood", op, arg)
}

// frame builds an Ethernet frame for d (IPv4 or IPv6, TCP or UDP, no
// options or extension headers, not fragmented).
func frame(d *Decoded) []byte {
	var l4 []byte
	switch d.Key.Proto {
	case ProtoTCP:
		l4 = make([]byte, 20)
		l4[12] = 5 << 4
	default:
		l4 = make([]byte, 8)
		binary.BigEndian.PutUint16(l4[4:], 8)
	}
	binary.BigEndian.PutUint16(l4, d.Key.SrcPort)
	binary.BigEndian.PutUint16(l4[2:], d.Key.DstPort)
	b := make([]byte, 12, 100)
	if d.IPv6 {
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		ip := make([]byte, 40)
		ip[0] = 6 << 4
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6], ip[7] = d.Key.Proto, 64
		copy(ip[8:], d.Key.Src[:])
		copy(ip[24:], d.Key.Dst[:])
		b = append(b, ip...)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		ip[8], ip[9] = 64, d.Key.Proto
		copy(ip[12:], d.Key.Src[12:])
		copy(ip[16:], d.Key.Dst[12:])
		b = append(b, ip...)
	}
	return append(b, l4...)
}

var (
	diffAddrs4 = []string{"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.1.10", "172.16.5.4", "8.8.8.8"}
	diffAddrs6 = []string{"2001:db8::1", "2001:db8:1::2", "fe80::1", "::1"}
	diffPorts  = []uint16{1, 22, 53, 80, 443, 1024, 8080, 51000}
)

// diffPackets is a deterministic mix of flows over a few addresses and
// ports, so that filters match some and not others.
func diffPackets() []*Decoded {
	r := rand.New(rand.NewPCG(3, 4))
	var out []*Decoded
	for i := range 300 {
		pool := diffAddrs4
		if i%3 == 0 {
			pool = diffAddrs6
		}
		proto := ProtoTCP
		if i%4 == 1 {
			proto = ProtoUDP
		}
		out = append(out, mkDecoded(pool[r.IntN(len(pool))], pool[r.IntN(len(pool))],
			diffPorts[r.IntN(len(diffPorts))], diffPorts[r.IntN(len(diffPorts))], proto))
	}
	return out
}

// randomFilter writes a random expression from the constructs both this
// package and libpcap support.
func randomFilter(r *rand.Rand, depth int) string {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	term := func() string {
		switch k := r.IntN(10); {
		case k == 0 && depth < 3:
			return "not " + randomFilter(r, depth+1)
		case k == 1 && depth < 3:
			return "(" + randomFilter(r, depth+1) + ")"
		case k == 2:
			return pick("tcp", "udp", "ip", "ip6")
		}
		dir := pick("", "", "src ", "dst ", "src or dst ", "src and dst ")
		port := func() string { return strconv.Itoa(int(diffPorts[r.IntN(len(diffPorts))])) }
		switch r.IntN(5) {
		case 0:
			a := pick(append(diffAddrs4, diffAddrs6...)...)
			s := pick("", "ip6 ")
			if strings.Contains(a, ".") {
				s = pick("", "ip ")
			}
			s += dir + "host " + a
			if r.IntN(3) == 0 {
				s += " or " + pick(diffAddrs4...)
			}
			return s
		case 1:
			return dir + "net " + pick("10.0.0.0/8", "10", "192.168", "10.0.0.0/31", "2001:db8::/32", "2001:db8:1::/48", "10.0.0.0 mask 255.0.255.0", "0.0.0.0/0", "::/0")
		case 2:
			s := pick("", "tcp ", "udp ") + dir + "port " + port()
			if r.IntN(2) == 0 {
				s += pick(" or ", " and not ", " and ") + port()
			}
			return s
		case 3:
			return pick("", "tcp ", "udp ") + dir + "portrange " + pick("1-80", "50-500", "443-52000", "8080-8080")
		default:
			return dir + pick(diffAddrs4...)
		}
	}
	s := term()
	for n := r.IntN(3); n > 0; n-- {
		s += pick(" and ", " or ", " && ", " || ") + term()
	}
	return s
}

func TestFilterAgainstLibpcap(t *testing.T) {
	if _, err := exec.LookPath("dumpcap"); err != nil {
		t.Skip("dumpcap (wireshark) not installed: cannot compare with libpcap")
	}
	if testing.Short() {
		t.Skip("runs dumpcap once per expression")
	}
	exprs := libpcapCorpusExprs()
	pkts := diffPackets()
	frames := make([][]byte, len(pkts))
	for i, d := range pkts {
		frames[i] = frame(d)
	}
	for _, expr := range exprs {
		t.Run(expr, func(t *testing.T) {
			prog, ok, reason := libpcapCompile(t, expr)
			f, err := ParseFilter(expr)
			if !ok && reason == "expression rejects all packets" {
				// libpcap's optimizer proved it never matches: neither
				// may Match.
				if err != nil {
					t.Fatalf("libpcap finds %q never matches, ParseFilter: %v", expr, err)
				}
				for _, d := range pkts {
					if f.Match(d) {
						t.Fatalf("libpcap finds %q never matches; Match takes %s:%d > %s:%d", expr, d.Key.SrcAddr(), d.Key.SrcPort, d.Key.DstAddr(), d.Key.DstPort)
					}
				}
				return
			}
			if !ok {
				if err == nil {
					t.Fatalf("libpcap rejects %q (%s), ParseFilter accepts it as %q", expr, reason, f.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("libpcap accepts %q, ParseFilter: %v", expr, err)
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("libpcap's program: %v", err)
			}
			matched := 0
			for i, d := range pkts {
				n, err := vm.Run(frames[i])
				if err != nil {
					t.Fatal(err)
				}
				if want := n > 0; f.Match(d) != want {
					t.Fatalf("%s:%d > %s:%d proto %d: Match = %v, libpcap %v (parsed as %q)",
						d.Key.SrcAddr(), d.Key.SrcPort, d.Key.DstAddr(), d.Key.DstPort, d.Key.Proto, !want, want, f.String())
				}
				if n > 0 {
					matched++
				}
			}
			t.Logf("%d of %d packets match", matched, len(pkts))
		})
	}
}

// libpcapCorpusExprs are the expressions compared with libpcap: a fixed
// list and random ones from randomFilter. The BPF compiler's test reuses
// them.
func libpcapCorpusExprs() []string {
	exprs := []string{
		"host 10.0.0.1", "src host 10.0.0.1", "dst host 2001:db8::1", "src and dst net 10.0.0.0/8",
		"net 10", "net 192.168 or net 172.16/12", "net 10.0.0.0 mask 255.0.255.0", "net 2001:db8::/32",
		"port 80", "tcp port 80", "udp port 53", "src port 53 or 443", "tcp dst port 80 or 8080 or 443",
		"portrange 1-1024", "udp src portrange 50-60", "tcp", "udp", "ip", "ip6", "ip6 and udp",
		"not tcp", "! ip6", "tcp or udp and port 53", "udp and port 53 or tcp", "not port 80 and not 443",
		"host 10.0.0.1 and port 80 or 443", "host 10.0.0.1 or 10.0.0.2 and tcp",
		"host 10.0.0.1 and (10.0.0.2 or 192.168.1.10)", "not (host 8.8.8.8 or port 22)",
		"src or dst port 22", "src and dst port 80", "ip host 10.0.0.1", "ip6 src net fe80::/10",
		"10.0.0.1", "src 10.0.0.1", "10.0.0.0/8",
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 60 {
		exprs = append(exprs, randomFilter(r, 0))
	}
	return exprs
}
