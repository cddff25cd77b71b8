package reassembly

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The repo's own captures (testdata/README.md) cover the edge cases of the
// shared ones where ../shared is absent. Each wants the exact transactions,
// in order, as "METHOD target status" with "!gap" appended when the response
// is flagged with a gap.
func TestOwnCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"gap-content-length.pcap", []string{"GET /v1/customers 200 !gap", "GET /v1/customers/1000 200"}},
		{"gap-chunked.pcap", []string{"GET /v1/customers 200 !gap", "GET /v1/customers/1000 200"}},
		{"pipelining.pcap", []string{"GET /v1/customers/1 200", "GET /v1/customers/2 200", "GET /v1/orders?customer=2 404"}},
		{"nosyn.pcap", []string{"GET /v1/customers/1001 200", "GET /v1/customers/1002 200"}},
		{"vxlan.pcap", []string{"GET /v1/customers/1000 200"}},
		{"qinq.pcap", []string{"GET /v1/customers/1000 200"}},
		{"vlan.pcap", []string{"GET /v1/customers/1000 200"}},
		{"chunked.pcap", []string{"GET /v1/customers/1000 200", "GET /v1/customers/1001 200"}},
		{"gzip.pcap", []string{"GET /v1/customers/1000 200", "GET /v1/customers/1001 200"}},
		{"br.pcap", []string{"GET /v1/customers/1000 200"}},
		{"100-continue.pcap", []string{"POST /v1/customers 201"}},
		{"onesided-client.pcap", []string{"GET /v1/customers/1000 0", "GET /v1/customers/1001 0", "GET /v1/customers/1002 0"}},
		{"ipv6.pcap", []string{"GET /v1/customers/1000 200", "GET /v1/customers/1001 200"}},
		{"nonhttp-port80.pcap", nil},
		{"http-port6667.pcap", []string{"GET /v1/customers/1000 200", "GET /v1/customers/1001 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			txs, st := analyse(t, filepath.Join("..", "testdata", tt.file), Options{})
			var got []string
			for _, tx := range txs {
				s := fmt.Sprintf("%s %s %d", tx.Method, tx.Target, tx.Status)
				if tx.Flags&FlagRespGap != 0 {
					s += " !gap"
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("transactions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.want == nil && st.NonHTTPFlows != 1 {
				t.Errorf("NonHTTPFlows = %d, want 1", st.NonHTTPFlows)
			}
		})
	}
}

// TestBodies checks body sizes and decoded samples on the compressed and
// chunked captures.
func TestBodies(t *testing.T) {
	for _, file := range []string{"gzip.pcap", "br.pcap", "chunked.pcap"} {
		txs, _ := analyse(t, filepath.Join("..", "testdata", file), Options{})
		for _, tx := range txs {
			if enc := tx.RespHeader("Content-Encoding") != ""; enc != (tx.RespBody == nil) {
				t.Errorf("%s %s: encoded %v, sample decoded before it was read %v", file, tx.Target, enc, tx.RespBody != nil)
			}
			tx.RespBodySample()
			if tx.RespBodyBytes == 0 || len(tx.RespBody) == 0 {
				t.Errorf("%s %s: body bytes %d, sample %d", file, tx.Target, tx.RespBodyBytes, len(tx.RespBody))
				continue
			}
			if tx.RespBody[0] != '{' && tx.RespBody[0] != '[' {
				t.Errorf("%s %s: sample is not decoded JSON: %q", file, tx.Target, tx.RespBody[:min(20, len(tx.RespBody))])
			}
		}
	}
}
