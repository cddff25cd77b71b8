package synth

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the committed edge-case captures in ../../testdata")

// edgeCase is one committed capture: how to play it and what it holds.
type edgeCase struct {
	name, what string
	// reqs and resps list, in order, the requests and the final responses
	// a correct reassembler finds ("GET /path", "200 (body 123 B)").
	reqs, resps []string
	play        func(w *Writer) error
}

var epoch = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func mustReq(r Request) []byte {
	b, err := r.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

func mustResp(r Response) []byte {
	b, err := r.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// jsonBody returns a deterministic JSON array of n customer records.
func jsonBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"customers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"Customer %d","email":"customer%d@example.com","tier":"%s"}`, 1000+i, i, i, []string{"gold", "silver", "bronze"}[i%3])
	}
	b.WriteString("]}")
	return b.Bytes()
}

func get(target string) []byte {
	return mustReq(Request{Target: target, Host: "api.example.com", Header: []Header{{"User-Agent", "synth-test/1.0"}, {"Accept", "application/json"}}})
}

func jsonResp(body []byte, chunked bool, enc string) []byte {
	return mustResp(Response{Header: []Header{{"Content-Type", "application/json"}}, Body: body, Chunked: chunked, ChunkSize: 2000, ContentEncoding: enc})
}

func v4conn(w *Writer, port uint16, o ConnOptions) (*Conn, error) {
	o.Client = netip.MustParseAddrPort("192.0.2.10:50123")
	o.Server = netip.AddrPortFrom(netip.MustParseAddr("198.51.100.20"), port)
	if o.Seed == 0 {
		o.Seed = uint64(port) + 7
	}
	return NewConn(w, epoch, o)
}

// simple plays count GET/200 exchanges with body sizes base, base+1000, ...
func simple(w *Writer, c *Conn, count int, enc string, chunked bool) error {
	for i := range count {
		if err := c.Exchange(get(fmt.Sprintf("/v1/customers/%d", 1000+i)), jsonResp(jsonBody(20+i*10), chunked, enc), 2*time.Millisecond); err != nil {
			return err
		}
		c.Advance(50 * time.Millisecond)
	}
	return c.Close(ClientToServer)
}

func edgeCases() []edgeCase {
	body := jsonBody(120) // 9+ KB: several segments
	return []edgeCase{
		{
			name: "gap-content-length", what: "a body of known length (Content-Length) loses its third segment to capture loss; the next exchange on the connection is whole",
			reqs:  []string{"GET /v1/customers", "GET /v1/customers/1000"},
			resps: []string{fmt.Sprintf("200 (Content-Length %d, 1460 B missing)", len(body)), "200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				c.Send(ClientToServer, get("/v1/customers"))
				c.Advance(2 * time.Millisecond)
				resp := jsonResp(body, false, "")
				c.Send(ServerToClient, resp[:2*1460])
				c.LoseNext(1)
				c.Send(ServerToClient, resp[2*1460:])
				c.Advance(60 * time.Millisecond)
				return simple(w, c, 1, "", false)
			},
		},
		{
			name: "gap-chunked", what: "a chunked body loses its third segment to capture loss; the next exchange on the connection is whole",
			reqs:  []string{"GET /v1/customers", "GET /v1/customers/1000"},
			resps: []string{"200 (chunked, 1460 B missing)", "200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{Seed: 11})
				if err != nil {
					return err
				}
				c.Send(ClientToServer, get("/v1/customers"))
				c.Advance(2 * time.Millisecond)
				resp := jsonResp(body, true, "")
				c.Send(ServerToClient, resp[:2*1460])
				c.LoseNext(1)
				c.Send(ServerToClient, resp[2*1460:])
				c.Advance(60 * time.Millisecond)
				return simple(w, c, 1, "", false)
			},
		},
		{
			name: "pipelining", what: "three GETs written back to back in one segment, then three responses (Content-Length, chunked, Content-Length)",
			reqs:  []string{"GET /v1/customers/1", "GET /v1/customers/2", "GET /v1/orders?customer=2"},
			resps: []string{"200", "200 (chunked)", "404"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				reqs := [][]byte{get("/v1/customers/1"), get("/v1/customers/2"), get("/v1/orders?customer=2")}
				resps := [][]byte{jsonResp(jsonBody(1), false, ""), jsonResp(jsonBody(40), true, ""),
					mustResp(Response{Status: 404, Header: []Header{{"Content-Type", "application/json"}}, Body: []byte(`{"error":"not found"}`)})}
				if err := c.Pipeline(reqs, resps, time.Millisecond); err != nil {
					return err
				}
				return c.Close(ClientToServer)
			},
		},
		{
			name: "nosyn", what: "capture starts mid-connection: no handshake and the first exchange unseen; starts at the second request",
			reqs:  []string{"GET /v1/customers/1001", "GET /v1/customers/1002"},
			resps: []string{"200", "200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{Impair: Impairments{MidStream: true, SkipBytes: len(get("/v1/customers/1000"))}})
				if err != nil {
					return err
				}
				return simple(w, c, 3, "", false)
			},
		},
		{
			name: "vxlan", what: "HTTP inside VXLAN (outer IPv4, UDP 4789, VNI 4242)",
			reqs: []string{"GET /v1/customers/1000"}, resps: []string{"200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{VXLAN: &VXLAN{ClientVTEP: netip.MustParseAddr("172.16.0.1"), ServerVTEP: netip.MustParseAddr("172.16.0.2"), VNI: 4242}})
				if err != nil {
					return err
				}
				return simple(w, c, 1, "", false)
			},
		},
		{
			name: "qinq", what: "double 802.1Q tags (outer S-tag 0x88a8 VLAN 100, inner C-tag VLAN 200)",
			reqs: []string{"GET /v1/customers/1000"}, resps: []string{"200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{VLANs: []uint16{100, 200}})
				if err != nil {
					return err
				}
				return simple(w, c, 1, "", false)
			},
		},
		{
			name: "vlan", what: "one 802.1Q tag (VLAN 42)",
			reqs: []string{"GET /v1/customers/1000"}, resps: []string{"200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{VLANs: []uint16{42}})
				if err != nil {
					return err
				}
				return simple(w, c, 1, "", false)
			},
		},
		{
			name: "chunked", what: "two keep-alive exchanges with chunked JSON responses (2000-byte chunks)",
			reqs: []string{"GET /v1/customers/1000", "GET /v1/customers/1001"}, resps: []string{"200 (chunked)", "200 (chunked)"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				return simple(w, c, 2, "", true)
			},
		},
		{
			name: "gzip", what: "Content-Encoding: gzip JSON response (Content-Length framing), then gzip inside chunked",
			reqs: []string{"GET /v1/customers/1000", "GET /v1/customers/1001"}, resps: []string{"200 (gzip)", "200 (gzip, chunked)"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				if err := c.Exchange(get("/v1/customers/1000"), jsonResp(jsonBody(200), false, "gzip"), time.Millisecond); err != nil {
					return err
				}
				c.Advance(20 * time.Millisecond)
				if err := c.Exchange(get("/v1/customers/1001"), jsonResp(jsonBody(200), true, "gzip"), time.Millisecond); err != nil {
					return err
				}
				return c.Close(ClientToServer)
			},
		},
		{
			name: "br", what: "Content-Encoding: br (brotli) JSON response",
			reqs: []string{"GET /v1/customers/1000"}, resps: []string{"200 (br)"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				return simple(w, c, 1, "br", false)
			},
		},
		{
			name: "100-continue", what: "POST with Expect: 100-continue: head, interim 100 Continue, JSON body, final 201",
			reqs: []string{"POST /v1/customers"}, resps: []string{"201 (after an interim 100)"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				head, reqBody, err := (&Request{Method: "POST", Target: "/v1/customers", Host: "api.example.com",
					Header: []Header{{"Content-Type", "application/json"}}, Body: jsonBody(30), ExpectContinue: true}).Encode()
				if err != nil {
					return err
				}
				resp := mustResp(Response{Status: 201, Header: []Header{{"Content-Type", "application/json"}, {"Location", "/v1/customers/1031"}}, Body: []byte(`{"id":1031}`)})
				if err := c.Continue(head, reqBody, resp, 3*time.Millisecond); err != nil {
					return err
				}
				return c.Close(ClientToServer)
			},
		},
		{
			name: "onesided-client", what: "only the client→server direction is captured (three keep-alive requests, no responses)",
			reqs:  []string{"GET /v1/customers/1000", "GET /v1/customers/1001", "GET /v1/customers/1002"},
			resps: nil,
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{Impair: Impairments{OneSided: true, Only: ClientToServer}})
				if err != nil {
					return err
				}
				return simple(w, c, 3, "", false)
			},
		},
		{
			name: "ipv6", what: "IPv6 (MSS 1440), two keep-alive exchanges",
			reqs: []string{"GET /v1/customers/1000", "GET /v1/customers/1001"}, resps: []string{"200", "200"},
			play: func(w *Writer) error {
				c, err := NewConn(w, epoch, ConnOptions{Client: netip.MustParseAddrPort("[2001:db8::10]:50123"), Server: netip.MustParseAddrPort("[2001:db8:1::20]:80"), Seed: 6})
				if err != nil {
					return err
				}
				return simple(w, c, 2, "", false)
			},
		},
		{
			name: "nonhttp-port80", what: "TLS-looking bytes (ClientHello/ServerHello records) on port 80: no HTTP at all",
			reqs: nil, resps: nil,
			play: func(w *Writer) error {
				c, err := v4conn(w, 80, ConnOptions{})
				if err != nil {
					return err
				}
				hello := tlsRecord(0x01, 512)
				if err := c.Exchange(hello, tlsRecord(0x02, 3000), 2*time.Millisecond); err != nil {
					return err
				}
				return c.Close(ClientToServer)
			},
		},
		{
			name: "http-port6667", what: "HTTP on port 6667 (the IRC port): two keep-alive exchanges",
			reqs: []string{"GET /v1/customers/1000", "GET /v1/customers/1001"}, resps: []string{"200", "200"},
			play: func(w *Writer) error {
				c, err := v4conn(w, 6667, ConnOptions{})
				if err != nil {
					return err
				}
				return simple(w, c, 2, "", false)
			},
		},
	}
}

func render(t *testing.T, ec edgeCase) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ec.play(w); err != nil {
		t.Fatalf("%s: %v", ec.name, err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func testdataReadme(cases []edgeCase) []byte {
	var b strings.Builder
	b.WriteString("# Edge-case captures made by capture/synth\n\n")
	b.WriteString("Generated by `go test ./capture/synth -run TestGenerateTestdata -update`; without `-update`\n")
	b.WriteString("the test regenerates them in memory and fails unless these files are byte-identical.\n")
	b.WriteString("Ethernet, IPv4 192.0.2.10:50123 → 198.51.100.20 unless stated, Host api.example.com,\n")
	b.WriteString("clean TCP (handshake, delayed ACKs, FIN) unless stated. Requests and final responses are\n")
	b.WriteString("listed in order as a correct reassembler should report them.\n\n")
	b.WriteString("| file | what | requests | final responses |\n|---|---|---|---|\n")
	for _, ec := range cases {
		list := func(s []string) string {
			if len(s) == 0 {
				return "none"
			}
			return strings.Join(s, "; ")
		}
		fmt.Fprintf(&b, "| %s.pcap | %s | %s | %s |\n", ec.name, ec.what, list(ec.reqs), list(ec.resps))
	}
	return []byte(b.String())
}

func testdataDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../../testdata")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGenerateTestdata(t *testing.T) {
	dir := testdataDir(t)
	cases := edgeCases()
	files := map[string][]byte{"README.md": testdataReadme(cases)}
	for _, ec := range cases {
		a, b := render(t, ec), render(t, ec)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two renders differ", ec.name)
		}
		files[ec.name+".pcap"] = a
	}
	for name, want := range files {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator makes now (run with -update if the change is intended)", name)
		}
	}
}
