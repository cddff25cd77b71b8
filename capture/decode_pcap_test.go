package capture

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// decodeSharedPcaps returns the directory of the shared real captures
// (../shared/pcaps beside the module root), skipping the test when absent.
func decodeSharedPcaps(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("module root not found")
		}
		dir = parent
	}
	pcaps := filepath.Join(dir, "..", "shared", "pcaps")
	if _, err := os.Stat(pcaps); err != nil {
		t.Skipf("shared captures not available at %s: %v", pcaps, err)
	}
	return pcaps
}

// decodeReadPcap reads every packet of a pcap or pcapng file with gopacket's
// pcapgo (independent of this package's readers).
func decodeReadPcap(t *testing.T, path string) []Packet {
	t.Helper()
	var pkts []Packet
	for _, w := range pcapgoRead(t, path) {
		pkts = append(pkts, Packet{Timestamp: w.ts, LinkType: w.link, Data: w.data, WireLen: w.wire})
	}
	return pkts
}

// TestDecodeSharedPcaps decodes real captures. The expected counts of TCP
// segments (and of those with payload, per direction) come from tshark 4.0
// (`tshark -r F -Y 'tcp.len > 0' -T fields -e tcp.srcport -e tcp.dstport`).
func TestDecodeSharedPcaps(t *testing.T) {
	dir := decodeSharedPcaps(t)
	cases := []struct {
		file         string
		link         layers.LinkType
		tcp          uint64 // TCP segments
		payloadBytes int    // sum of TCP payload lengths
		withPayload  map[string]int
		other        uint64 // IP but not TCP/UDP
		tunnels      uint8
		vlans        uint8
		v6           bool
	}{
		{file: "zeek_vxlan-encapsulated-http.pcap", link: layers.LinkTypeEthernet, tcp: 12, payloadBytes: 9299,
			withPayload: map[string]int{"40354>80": 1, "80>40354": 2}, tunnels: 1},
		{file: "zeek_http-qinq-0.pcap", link: layers.LinkTypeEthernet, tcp: 14, payloadBytes: 5143,
			withPayload: map[string]int{"59856>80": 1, "80>59856": 4}, vlans: 2},
		{file: "zeek_ipv6-http-atomic-frag.pcap", link: layers.LinkTypeEthernet, tcp: 36, payloadBytes: 412, other: 2, v6: true,
			withPayload: map[string]int{"27393>80": 1, "36951>80": 1, "45805>80": 1, "59694>80": 1, "80>27393": 1, "80>36951": 1, "80>45805": 1, "80>59694": 1}},
		{file: "ndpi_http2.pcapng", link: layers.LinkTypeLinuxSLL, tcp: 10, payloadBytes: 591,
			withPayload: map[string]int{"29518>37824": 6, "37824>29518": 4}},
		{file: "suri_http2-continuation.pcap", link: layers.LinkTypeNull, tcp: 30, payloadBytes: 380,
			withPayload: map[string]int{"50321>8080": 8, "8080>50321": 3}},
		{file: "zeek_261-te_cl_desync.pcap", link: layers.LinkTypeIPv4, tcp: 8, payloadBytes: 132,
			withPayload: map[string]int{"40004>80": 1}},
		{file: "zeek_connect-with-header.pcap", link: layers.LinkTypeNull, tcp: 58, payloadBytes: 59143, v6: true,
			withPayload: map[string]int{"52522>80": 4, "80>52522": 23}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			pkts := decodeReadPcap(t, filepath.Join(dir, c.file))
			if len(pkts) == 0 || pkts[0].LinkType != c.link {
				t.Fatalf("%d packets, link type %v, want %v", len(pkts), pkts[0].LinkType, c.link)
			}
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			got := map[string]int{}
			sum := 0
			for i := range pkts {
				if !dec.Decode(&pkts[i], &d) || d.Key.Proto != ProtoTCP {
					continue
				}
				sum += len(d.Payload)
				if d.Tunnels != c.tunnels || d.VLANs != c.vlans || d.IPv6 != c.v6 {
					t.Errorf("packet %d: tunnels %d vlans %d v6 %v", i+1, d.Tunnels, d.VLANs, d.IPv6)
				}
				if len(d.Payload) > 0 {
					got[fmt.Sprintf("%d>%d", d.Key.SrcPort, d.Key.DstPort)]++
				}
			}
			st := dec.Stats()
			if st.TCP != c.tcp || st.Other != c.other || st.Undecodable != 0 || st.NotIP != 0 || st.Packets != uint64(len(pkts)) {
				t.Errorf("stats %+v", st)
			}
			if sum != c.payloadBytes {
				t.Errorf("%d payload bytes, want %d", sum, c.payloadBytes)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.withPayload) {
				t.Errorf("segments with payload %v, want %v", got, c.withPayload)
			}
		})
	}
}

// TestDecodeAllSharedPcaps decodes every shared capture and compares the
// number of TCP segments and the sum of their payload lengths with tshark
// 4.0 (`tshark -r F -Y tcp -T fields -e tcp.len`); nothing may be
// undecodable and the counters must add up.
func TestDecodeAllSharedPcaps(t *testing.T) {
	dir := decodeSharedPcaps(t)
	tshark := map[string]struct {
		segments uint64
		bytes    int
	}{
		"ndpi_http2.pcapng":                            {10, 591},
		"ndpi_http_asymmetric.pcapng":                  {23, 8665},
		"ndpi_jsonrpc.pcap":                            {16, 1791},
		"ppp_4KHttpRequests.pcap":                      {385, 426944},
		"ppp_http-packets.pcap":                        {1985, 2545709},
		"ppp_unidirectional_missing_packet.pcap":       {14, 8528},
		"suri_http-brotli-ce.pcap":                     {16, 5392},
		"suri_http-pipeline-files-with-gap.pcap":       {169, 61577},
		"suri_http-request-invalid.pcap":               {48, 49055},
		"suri_http2-continuation.pcap":                 {30, 380},
		"suri_http2-keywords.pcap":                     {56, 412939},
		"suri_onesided-nosyn.pcap":                     {11, 1193},
		"zeek_100-continue.pcap":                       {66, 63324},
		"zeek_1000-requests-one-dropped-response.pcap": {4102, 996757},
		"zeek_261-te_cl_desync.pcap":                   {8, 132},
		"zeek_connect-with-header.pcap":                {58, 59143},
		"zeek_entity_gap.pcap":                         {13, 3695},
		"zeek_get-gzip.pcap":                           {14, 421},
		"zeek_get_nosyn.pcap":                          {11, 5143},
		"zeek_http-on-irc-port-missing-syn.pcapng":     {13, 5143},
		"zeek_http-qinq-0.pcap":                        {14, 5143},
		"zeek_ipv6-http-atomic-frag.pcap":              {36, 412},
		"zeek_methods.pcap":                            {655, 184311},
		"zeek_pipelined-requests.pcap":                 {49, 42362},
		"zeek_vxlan-encapsulated-http.pcap":            {12, 9299},
		"zeek_websocket.pcap":                          {27, 1966},
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, known := tshark[filepath.Base(f)]
			pkts := decodeReadPcap(t, f)
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			sum := 0
			for i := range pkts {
				if dec.Decode(&pkts[i], &d) && d.Key.Proto == ProtoTCP {
					sum += len(d.Payload)
				}
			}
			st := dec.Stats()
			if st.Undecodable != 0 || st.UnsupportedLinkType != 0 || st.TCP == 0 {
				t.Errorf("stats %+v", st)
			}
			if known && (st.TCP != want.segments || sum != want.bytes) {
				t.Errorf("%d TCP segments with %d payload bytes, tshark finds %d with %d", st.TCP, sum, want.segments, want.bytes)
			}
			if sum := st.TCP + st.UDP + st.Other + st.NotIP + st.Undecodable + st.UnsupportedLinkType; sum != st.Packets {
				t.Errorf("categories add to %d of %d packets: %+v", sum, st.Packets, st)
			}
		})
	}
}
