package reassembly

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
)

// sharedPcaps is where ../shared/pcaps lies relative to this package.
const sharedPcaps = "../../shared/pcaps"

// counts is what a capture yields: requests (transactions with a method)
// and final responses (status ≥ 200).
type counts struct{ req, resp int }

// tsharkCounts parses the req/resp columns of ../shared/pcaps/README.md.
func tsharkCounts(t *testing.T) map[string]counts {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedPcaps, "README.md"))
	if err != nil {
		t.Skipf("../shared/pcaps is absent (%v): the regression captures live outside this repo; testdata/ covers the same edge cases", err)
	}
	defer f.Close()
	out := map[string]counts{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) < 7 {
			continue
		}
		name := strings.TrimSpace(cols[1])
		req, err1 := strconv.Atoi(strings.TrimSpace(cols[4]))
		resp, err2 := strconv.Atoi(strings.TrimSpace(cols[5]))
		if err1 != nil || err2 != nil || !strings.Contains(name, ".pcap") {
			continue
		}
		out[name] = counts{req, resp}
	}
	if len(out) == 0 {
		t.Fatal("no capture rows found in ../shared/pcaps/README.md")
	}
	return out
}

// analyse runs a whole capture file through Run.
func analyse(t *testing.T, path string, opts Options) ([]*Transaction, Stats) {
	t.Helper()
	src, err := capture.OpenFiles(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer src.Close()
	var (
		mu  sync.Mutex
		txs []*Transaction
	)
	st, err := Run(context.Background(), src, opts, func(tx *Transaction) {
		mu.Lock()
		txs = append(txs, tx)
		mu.Unlock()
	})
	if err != nil {
		t.Fatalf("analysing %s: %v", path, err)
	}
	return txs, st
}

// countOf counts the HTTP/1 transactions, what the README's tshark columns
// count (HTTP/2 is compared stream by stream in TestSharedH2).
func countOf(txs []*Transaction) counts {
	var c counts
	for _, tx := range txs {
		if tx.Protocol != ProtoHTTP1 {
			continue
		}
		if tx.Method != "" {
			c.req++
		}
		if tx.Status >= 200 {
			c.resp++
		}
	}
	return c
}

// differs lists the captures where shadowtap is right to find other counts
// than tshark, and why.
var differs = map[string]struct {
	want counts
	why  string
}{
	"ppp_4KHttpRequests.pcap": {counts{381, 0},
		"tshark gives up on a connection at a missing segment; shadowtap resynchronises at the next request line (385 segments begin with a request line, 4 of them TCP retransmissions of the same sequence numbers: 381 distinct requests)"},
	"ppp_unidirectional_missing_packet.pcap": {counts{2, 0},
		"the stream holds two POSTs; the first loses a body segment of known length, which shadowtap skips and tshark cannot"},
	"suri_http-pipeline-files-with-gap.pcap": {counts{3, 3},
		"the gap lies inside the second response's body; shadowtap keeps that response (flagged) and the third, tshark stops"},
	"suri_http-request-invalid.pcap": {counts{4, 6},
		"4 of tshark's 8 requests are SSDP M-SEARCH over UDP; shadowtap reads HTTP over TCP only"},
	"zeek_entity_gap.pcap": {counts{1, 1},
		"the response body has a content gap; shadowtap keeps the response flagged with the gap, tshark drops it"},
	"zeek_ipv6-http-atomic-frag.pcap": {counts{0, 0},
		"the same count as tshark, stated because Zeek differs: the four requests are HTTP/0.9 (\"GET /bad.html\" without a version, answered by a bare HTML body without a status line); shadowtap, like tshark, reads HTTP/1.x only and counts the flows as not HTTP"},
	"zeek_1000-requests-one-dropped-response.pcap": {counts{1000, 999},
		"the same count as tshark, stated because pairing is at stake: the first response's header segment is lost; the client's ACK proves the loss at once, and the request sent after the hole shows the first request's answer was in it, so request 1 has no response and requests 2-1000 pair with responses 2-1000 (TestSharedPcapsDetails)"},
	"zeek_methods.pcap": {counts{26, 49},
		"one request line is a bare \"OPTIONS\" with neither target nor version; shadowtap counts it as garbage (the server's 400 becomes a response without request)"},
}

// TestSharedPcaps is the regression test over the real captures in
// ../shared/pcaps: requests and final responses agree with tshark's counts
// in its README, or with a stated reason.
func TestSharedPcaps(t *testing.T) {
	want := tsharkCounts(t)
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			why := "tshark's count"
			if d, ok := differs[name]; ok {
				w, why = d.want, d.why
			}
			for _, workers := range []int{1, 3} {
				txs, st := analyse(t, filepath.Join(sharedPcaps, name), Options{Workers: workers})
				got := countOf(txs)
				if workers == 1 {
					t.Logf("tshark %d/%d, want %d/%d, got %d/%d; flows %d (http %d, other %d), gaps %d (%d B, %d forced by buffer bounds), parse errors %d, upgrades %d",
						want[name].req, want[name].resp, w.req, w.resp, got.req, got.resp, st.Flows, st.HTTPFlows, st.NonHTTPFlows, st.Gaps, st.GapBytes, st.BufferLimitGaps, st.ParseErrors, st.Upgrades)
				}
				if st.BufferLimitGaps != 0 {
					t.Errorf("workers=%d: %d gaps forced by the default buffer bounds on a capture of %d packets", workers, st.BufferLimitGaps, st.Packets)
				}
				if got != w {
					t.Errorf("workers=%d: %d requests / %d final responses, want %d / %d (%s)", workers, got.req, got.resp, w.req, w.resp, why)
				}
				if st.Requests != uint64(countOf(txs).req+countH2(txs)) || st.Transactions != uint64(len(txs)) {
					t.Errorf("stats disagree with the transactions: %+v", st)
				}
			}
		})
	}
	for name := range differs {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is in differs but not in ../shared/pcaps/README.md", name)
		}
	}
}

// TestSharedPcapsDetails pins particular transactions of the real captures.
func TestSharedPcapsDetails(t *testing.T) {
	tsharkCounts(t) // skips where ../shared is absent
	load := func(name string) []*Transaction {
		txs, _ := analyse(t, filepath.Join(sharedPcaps, name), Options{})
		return txs
	}
	t.Run("pipelined on one connection", func(t *testing.T) {
		txs := load("zeek_pipelined-requests.pcap")
		for i, tx := range txs {
			if tx.Client != txs[0].Client || tx.Status != 200 || tx.Method != "GET" {
				t.Errorf("tx %d: %v %s %d", i, tx.Client, tx.Method, tx.Status)
			}
			if i > 0 && tx.RequestTime.Before(txs[i-1].RequestTime) {
				t.Errorf("tx %d out of request order", i)
			}
		}
	})
	t.Run("one dropped response does not shift the pairs", func(t *testing.T) {
		txs := load("zeek_1000-requests-one-dropped-response.pcap")
		if len(txs) != 1000 {
			t.Fatalf("%d transactions, want 1000", len(txs))
		}
		if txs[0].Status != 0 || txs[0].Flags&FlagNoResponse == 0 {
			t.Errorf("first request: status %d flags %b, want no response", txs[0].Status, txs[0].Flags)
		}
		for i, tx := range txs[1:] {
			if tx.Status != 200 || tx.ResponseTime.Before(tx.RequestTime) {
				t.Fatalf("tx %d: status %d, request %v, response %v", i+1, tx.Status, tx.RequestTime, tx.ResponseTime)
			}
			// Keep-alive without pipelining: each response precedes the
			// next request.
			if i+2 < len(txs) && txs[i+2].RequestTime.Before(tx.ResponseTime) {
				t.Fatalf("tx %d: response at %v after the next request at %v: pairs shifted", i+1, tx.ResponseTime, txs[i+2].RequestTime)
			}
		}
	})
	t.Run("100-continue pairs the final response", func(t *testing.T) {
		txs := load("zeek_100-continue.pcap")
		if len(txs) != 1 || txs[0].Method != "POST" || txs[0].Status < 200 || txs[0].ReqBodyBytes == 0 {
			t.Fatalf("got %+v", txs)
		}
	})
	t.Run("CONNECT keeps its transaction", func(t *testing.T) {
		txs := load("zeek_connect-with-header.pcap")
		if len(txs) != 1 || txs[0].Method != "CONNECT" || txs[0].Status != 200 || txs[0].Flags&FlagUpgraded == 0 {
			t.Fatalf("got %+v", txs)
		}
	})
	t.Run("websocket upgrade", func(t *testing.T) {
		txs := load("zeek_websocket.pcap")
		if len(txs) != 1 || txs[0].Status != 101 || txs[0].Flags&FlagUpgraded == 0 {
			t.Fatalf("got %+v", txs)
		}
	})
	t.Run("methods", func(t *testing.T) {
		seen := map[string]bool{}
		for _, tx := range load("zeek_methods.pcap") {
			seen[tx.Method] = true
		}
		for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "OPTIONS", "CCM_POST"} {
			if !seen[m] {
				t.Errorf("method %s not found", m)
			}
		}
	})
	t.Run("gzip JSON decoded", func(t *testing.T) {
		txs := load("zeek_get-gzip.pcap")
		if len(txs) != 1 || len(txs[0].RespBodySample()) == 0 || txs[0].RespBody[0] != '{' {
			t.Fatalf("got %+v", txs)
		}
	})
}
