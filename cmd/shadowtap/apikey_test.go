package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/detect"
)

// partnerSpec declares API keys under names shadowtap does not know by
// itself, in a header, the query and a cookie (detect's tests use it too).
const partnerSpec = "../../detect/testdata/apikey-spec.yaml"

// partnerKeys are the keys the capture carries; the header one has a
// recognisable secret format (the API's own auth is no exposure).
var partnerKeys = map[string]string{
	"header": "sk_live_51Hq8ZpK3vN7xW2mR9tL4cY6b",
	"query":  "PartnerQueryKeyQ9w8e7r6Zt",
	"cookie": "PartnerCookieKey5d4c3bXy",
}

// partnerCapture writes a capture of calls to the partner API, each key
// in its place, and returns its path with the spec's.
func partnerCapture(t *testing.T, dir string) (pcap, spec string) {
	t.Helper()
	spec = partnerSpec
	pcap = filepath.Join(dir, "partner.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := synth.NewWriter(f, synth.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(i int, req synth.Request) {
		t.Helper()
		req.Host = "api.partner.example"
		writeExchange(t, w, i, req, synth.Response{Header: []synth.Header{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(`{"id":1}`)})
	}
	for i := 0; i < 5; i++ {
		id := strconv.Itoa(100 + i)
		exchange(10*i, synth.Request{Target: "/v1/items/" + id + "?lang=en", Header: []synth.Header{{Name: "X-Partner-Ref", Value: partnerKeys["header"]}}})
		exchange(10*i+1, synth.Request{Target: "/v1/items/" + id + "?partner_ref=" + partnerKeys["query"] + "&lang=en"})
		exchange(10*i+2, synth.Request{Target: "/v1/items/" + id, Header: []synth.Header{{Name: "Cookie", Value: "theme=dark; pref=" + partnerKeys["cookie"]}}})
		// An undocumented endpoint called with the query key: a shadow
		// endpoint alert about a request that carries it.
		exchange(10*i+3, synth.Request{Target: "/v1/internal/dump?partner_ref=" + partnerKeys["query"]})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return pcap, spec
}

// leaks reports the files under dir (but skip) holding a partner key.
func leaks(t *testing.T, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || slices.Contains(skip, path) {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, v := range partnerKeys {
			if bytes.Contains(b, []byte(v)) {
				out = append(out, filepath.Base(path)+" holds the "+what+" key")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSpecAPIKeysEndToEnd: with the spec, the keys it declares are the
// endpoint's auth and no output, store or alert holds them in clear;
// without it the query key is printed (so the test sees the difference).
func TestSpecAPIKeysEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pcap, spec := partnerCapture(t, dir)

	out := filepath.Join(dir, "with")
	os.Mkdir(out, 0o755)
	rep, txs := filepath.Join(out, "report.json"), filepath.Join(out, "tx.jsonl")
	code, _, stderr := runCmd(t, "analyze", "--spec", spec, "--db", filepath.Join(out, "db"), "--db-sample", "1",
		"--report", rep, "--transactions", txs, pcap)
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	var r detect.Report
	b, _ := os.ReadFile(rep)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var auth []string
	for _, ep := range r.Endpoints {
		if ep.Path == "/v1/items/{id}" {
			auth = ep.Auth
		}
	}
	if !slices.Equal(auth, []string{"apikey-header", "apikey-query", "cookie"}) {
		t.Errorf("auth of /v1/items/{id}: %q, want the three API keys (endpoints %+v)", auth, r.Endpoints)
	}
	shadow := false
	for _, a := range r.Alerts {
		switch {
		case a.Kind == detect.KindSecretExposure:
			t.Errorf("the API's own key reported as exposed: %s", a.Summary)
		case a.Kind == detect.KindShadowEndpoint && a.Path == "/v1/items/{id}":
			t.Errorf("the key's parameter reported as undocumented: %s", a.Summary)
		case a.Kind == detect.KindShadowEndpoint:
			shadow = true
		}
	}
	if !shadow {
		t.Error("no shadow endpoint alert for /v1/internal/dump: the capture was not analysed as meant")
	}
	tx, _ := os.ReadFile(txs)
	if n := bytes.Count(tx, []byte("partner_ref=REDACTED")); n != 10 {
		t.Errorf("%d redacted partner_ref values in the transactions, want 10:\n%s", n, tx)
	}
	for _, l := range leaks(t, out) {
		t.Error(l)
	}

	// The daemon writes its transactions and alerts with the same names.
	dout := filepath.Join(dir, "daemon")
	os.Mkdir(dout, 0o755)
	dtx, alerts := filepath.Join(dout, "tx.jsonl"), filepath.Join(dout, "alerts.jsonl")
	td := startDaemon(t, daemonConfig{PCAP: pcap, Specs: []string{spec}, DB: filepath.Join(dout, "db"), Transactions: dtx,
		Sinks: []sinkConfig{{Type: "jsonl", Path: alerts}}}, nil)
	td.drained(t)
	if err := td.stop(t); err != nil {
		t.Fatal(err)
	}
	if n := countLines(t, dtx); n != 20 {
		t.Errorf("the daemon wrote %d transactions, want 20", n)
	}
	if n := countLines(t, alerts); n == 0 {
		t.Error("the daemon raised no alert")
	}
	for _, l := range leaks(t, dout) {
		t.Error("daemon: " + l)
	}

	// Without the spec the query key is printed and the header key is
	// taken for an exposed secret.
	bare := filepath.Join(dir, "bare")
	os.Mkdir(bare, 0o755)
	code, _, stderr = runCmd(t, "analyze", "--db", "none", "--report", filepath.Join(bare, "report.json"), "--transactions", filepath.Join(bare, "tx.jsonl"), pcap)
	if code != 0 {
		t.Fatalf("analyze without the spec: exit %d: %s", code, stderr)
	}
	if l := leaks(t, bare); !slices.Contains(l, "tx.jsonl holds the query key") {
		t.Errorf("without the spec: %q, want the query key in the transactions", l)
	}
	if b, _ := os.ReadFile(filepath.Join(bare, "report.json")); !strings.Contains(string(b), detect.KindSecretExposure) {
		t.Error("without the spec the header key is no exposed secret: the capture does not test what it should")
	}
}
