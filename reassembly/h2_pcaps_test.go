package reassembly

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// countH2 counts the HTTP/2 transactions with a request.
func countH2(txs []*Transaction) int {
	n := 0
	for _, tx := range txs {
		if tx.Protocol != ProtoHTTP1 && tx.Method != "" {
			n++
		}
	}
	return n
}

// h2Line renders an HTTP/2 transaction as "stream METHOD authority path
// status", what tshark's HTTP/2 dissector shows of a stream.
func h2Line(tx *Transaction) string {
	return fmt.Sprintf("%d %s %s %s %d", tx.StreamID, tx.Method, tx.Host, tx.Target, tx.Status)
}

// sharedH2 are the HTTP/2 captures of ../shared/pcaps, the port tshark must
// be told is HTTP/2, and the streams its dissector shows (tshark 4.0.17:
// -d tcp.port==P,http2, HEADERS frames' :method, :authority, :path and
// :status per stream). The README says 7 requests for http2-keywords; the
// dissector shows 6 request HEADERS (streams 1-11) and 6 responses.
var sharedH2 = []struct {
	file string
	port int
	want []string
}{
	{"ndpi_http2.pcapng", 29518, []string{"3 POST 127.0.0.1:29518 /namf-comm/v1/subscriptions 201"}},
	{"suri_http2-continuation.pcap", 8080, []string{"1 GET 127.0.0.1:8080 /tata 200"}},
	{"suri_http2-keywords.pcap", 3000, []string{
		"1 GET localhost:3000 /doc/manual/html/index.html 200",
		"3 GET localhost:3000 /doc/manual/html/_static/css/theme.css 200",
		"5 GET localhost:3000 /doc/manual/html/_static/jquery.js 200",
		"7 GET localhost:3000 /doc/manual/html/_static/underscore.js 200",
		"9 GET localhost:3000 /doc/manual/html/_static/doctools.js 200",
		"11 GET localhost:3000 /doc/manual/html/_static/js/theme.js 200",
	}},
}

// TestSharedH2 checks the HTTP/2 captures of ../shared/pcaps stream by
// stream against what tshark's HTTP/2 dissector shows (pinned, and run
// live when tshark is installed).
func TestSharedH2(t *testing.T) {
	tsharkCounts(t) // skips where ../shared is absent
	for _, c := range sharedH2 {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join(sharedPcaps, c.file)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if live := tsharkH2(t, path, c.port); live != nil {
				if !slices.Equal(live, want) {
					t.Errorf("tshark now shows:\n%s\npinned:\n%s", strings.Join(live, "\n"), strings.Join(want, "\n"))
				}
			}
			for _, workers := range []int{1, 3} {
				txs, st := analyse(t, path, Options{Workers: workers})
				var got []string
				for _, tx := range txs {
					if tx.Protocol != ProtoH2 {
						t.Errorf("protocol %q on %s", tx.Protocol, h2Line(tx))
					}
					if tx.Flags&^FlagRespTruncated != 0 {
						t.Errorf("flags %b on %s", tx.Flags, h2Line(tx))
					}
					got = append(got, h2Line(tx))
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("workers=%d:\n%s\nwant (tshark):\n%s", workers, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if st.HTTP2Flows != 1 || st.HTTP2.HPACKErrors != 0 || st.HTTP2.FrameErrors != 0 {
					t.Errorf("stats %+v", st.HTTP2)
				}
			}
		})
	}
}

// tsharkH2 lists the streams tshark's HTTP/2 dissector shows in a capture
// (nil when tshark is not installed).
func tsharkH2(t *testing.T, path string, port int) []string {
	bin, err := exec.LookPath("tshark")
	if err != nil {
		t.Logf("tshark not installed: comparing with the pinned streams only")
		return nil
	}
	out, err := exec.Command(bin, "-r", path, "-d", "tcp.port=="+strconv.Itoa(port)+",http2",
		"-o", "tcp.check_checksum:FALSE", "-Y", "http2.type==1", "-T", "fields", "-E", "occurrence=a",
		"-e", "http2.streamid", "-e", "http2.type", "-e", "http2.headers.method", "-e", "http2.headers.authority",
		"-e", "http2.headers.path", "-e", "http2.headers.status").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	// Each frame lists per frame field the values of all its HTTP/2
	// frames; pair HEADERS frames with their stream ids in order.
	type req struct{ method, authority, path, status string }
	streams := map[string]*req{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		for len(f) < 6 {
			f = append(f, "")
		}
		ids, types := strings.Split(f[0], ","), strings.Split(f[1], ",")
		methods, auths, paths, statuses := splitList(f[2]), splitList(f[3]), splitList(f[4]), splitList(f[5])
		for i, typ := range types {
			if typ != "1" || i >= len(ids) {
				continue
			}
			id := ids[i]
			r := streams[id]
			if r == nil {
				r = &req{}
				streams[id] = r
				order = append(order, id)
			}
			switch {
			case len(methods) > 0 && r.method == "":
				r.method, methods = methods[0], methods[1:]
				if len(auths) > 0 {
					r.authority, auths = auths[0], auths[1:]
				}
				if len(paths) > 0 {
					r.path, paths = paths[0], paths[1:]
				}
			case len(statuses) > 0 && r.status == "":
				r.status, statuses = statuses[0], statuses[1:]
			}
		}
	}
	var lines []string
	for _, id := range order {
		r := streams[id]
		if r.status == "" {
			r.status = "0"
		}
		lines = append(lines, strings.Join([]string{id, r.method, r.authority, r.path, r.status}, " "))
	}
	slices.Sort(lines)
	return lines
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
