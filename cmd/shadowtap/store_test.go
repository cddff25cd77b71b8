package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/storage"
)

// cliEnv makes the test binary run the CLI (a real child process for the
// crash test).
const cliEnv = "SHADOWTAP_TEST_AS_CLI"

// TestMain keeps every test of the package away from the user's store:
// the default store is "none" and the data directories are temporary.
func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) != "" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	tmp, err := os.MkdirTemp("", "shadowtap-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("HOME", tmp)
	os.Setenv("XDG_DATA_HOME", filepath.Join(tmp, "data"))
	os.Setenv(dbEnv, dbNone)
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func TestDefaultDBDir(t *testing.T) {
	t.Setenv(dbEnv, "")
	t.Setenv("XDG_DATA_HOME", "/data")
	if got := defaultDBDir(false); got != "/data/shadowtap" {
		t.Errorf("XDG_DATA_HOME: %s", got)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/ann")
	if got := defaultDBDir(false); got != "/home/ann/.local/share/shadowtap" {
		t.Errorf("HOME: %s", got)
	}
	if os.Geteuid() == 0 {
		if got := defaultDBDir(true); got != "/var/lib/shadowtap" {
			t.Errorf("daemon as root: %s", got)
		}
	}
	_, out, _ := runCmd(t, "--help")
	if !strings.Contains(out, "/home/ann/.local/share/shadowtap") {
		t.Errorf("--help does not print the default store:\n%s", out)
	}
}

// reportParts is a report without what differs between runs of the same
// traffic (generated_at, and the summary's per-run capture counters).
func reportParts(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r detect.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(map[string]any{"endpoints": r.Endpoints, "unseen": r.Unseen, "alerts": r.Alerts}, "", " ")
	return string(out)
}

// TestAnalyzeDBIncremental analyses captures one per run into a store and
// all in one run without one: the inventories and alerts must agree; then
// the query commands read the store.
func TestAnalyzeDBIncremental(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	files := []string{"pipelining.pcap", "ipv6.pcap", "http-port6667.pcap"}
	for i := range files {
		files[i] = filepath.Join("..", "..", "testdata", files[i])
	}
	one := filepath.Join(dir, "one.json")
	args := append([]string{"analyze", "--db", "none", "--report", one}, files...)
	if code, _, stderr := runCmd(t, args...); code != 0 {
		t.Fatalf("one run: exit %d: %s", code, stderr)
	}
	var last string
	for i, f := range files {
		last = filepath.Join(dir, fmt.Sprintf("part%d.json", i))
		if code, _, stderr := runCmd(t, "analyze", "--db", db, "--report", last, f); code != 0 {
			t.Fatalf("part %d: exit %d: %s", i, code, stderr)
		}
	}
	if a, b := reportParts(t, one), reportParts(t, last); a != b {
		t.Fatalf("incremental report differs from one run:\none: %s\nincremental: %s", a, b)
	}

	code, out, stderr := runCmd(t, "endpoints", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("endpoints: exit %d: %s", code, stderr)
	}
	var eps struct {
		Endpoints []detect.Endpoint `json:"endpoints"`
		Unseen    []detect.Unseen   `json:"unseen"`
	}
	if err := json.Unmarshal([]byte(out), &eps); err != nil || len(eps.Endpoints) == 0 || eps.Unseen == nil {
		t.Fatalf("endpoints --json: %v\n%s", err, out)
	}
	if code, out, _ := runCmd(t, "endpoints", "--db", db); code != 0 || !strings.Contains(out, "ENDPOINTS") {
		t.Errorf("endpoints table: %d %s", code, out)
	}
	if code, _, stderr := runCmd(t, "endpoints", "--db", filepath.Join(dir, "absent")); code == 0 || !strings.Contains(stderr, "no store") {
		t.Errorf("endpoints on a missing store: exit %d, %s", code, stderr)
	}
}

// TestAlertsCommands runs analyze on a simulated day with incidents into a
// store and exercises alerts, alerts ack and db.
func TestAlertsCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a capture")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if _, err := synth.Simulate(filepath.Join(dir, "sim"), synth.SimOptions{Days: 1, Seed: 3, Users: 30}); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "analyze", "--db", db, "--spec", filepath.Join(dir, "sim", "documented.yaml"), "--report", filepath.Join(dir, "r.json"), filepath.Join(dir, "sim", "traffic.pcap")); code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	alerts := func(args ...string) []detect.StoredAlert {
		t.Helper()
		code, out, stderr := runCmd(t, append([]string{"alerts", "--db", db, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("alerts %v: exit %d: %s", args, code, stderr)
		}
		var doc struct {
			Alerts []detect.StoredAlert `json:"alerts"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Alerts == nil {
			t.Fatalf("alerts %v: %v\n%s", args, err, out)
		}
		return doc.Alerts
	}
	all := alerts()
	var rep detect.Report
	b, _ := os.ReadFile(filepath.Join(dir, "r.json"))
	json.Unmarshal(b, &rep)
	if len(all) == 0 || len(all) != len(rep.Alerts) {
		t.Fatalf("%d alerts stored, the report has %d", len(all), len(rep.Alerts))
	}
	kinds := map[string]int{}
	for _, a := range all {
		kinds[a.Kind]++
		if len(a.ID) != 16 {
			t.Errorf("alert id %q", a.ID)
		}
	}
	for kind, n := range kinds {
		got := alerts("--kind", kind)
		if len(got) != n {
			t.Errorf("--kind %s: %d, want %d", kind, len(got), n)
		}
	}
	for _, a := range alerts("--severity", "high") {
		if a.Severity != "high" && a.Severity != "critical" {
			t.Errorf("--severity high gave %s", a.Severity)
		}
	}
	if got := alerts("--host", "nope.example"); len(got) != 0 {
		t.Errorf("--host nope: %d alerts", len(got))
	}
	if got := alerts("--since", "2100-01-01T00:00:00Z"); len(got) != 0 {
		t.Errorf("--since the future: %d alerts", len(got))
	}
	if got := alerts("--since", "87600h"); len(got) != len(all) {
		t.Errorf("--since 10 years: %d alerts, want %d", len(got), len(all))
	}
	if code, out, stderr := runCmd(t, "alerts", "ack", "--db", db, "--by", "tester", all[0].ID); code != 0 || !strings.Contains(out, all[0].ID) {
		t.Fatalf("ack: exit %d: %s %s", code, out, stderr)
	}
	if code, _, _ := runCmd(t, "alerts", "ack", "--db", db, "0000000000000000"); code == 0 {
		t.Error("ack of an unknown id succeeded")
	}
	if got := alerts("--unacked"); len(got) != len(all)-1 {
		t.Errorf("--unacked: %d, want %d", len(got), len(all)-1)
	}
	for _, a := range alerts() {
		if a.ID == all[0].ID && (a.Ack == nil || a.Ack.By != "tester") {
			t.Errorf("acked alert shows ack %+v", a.Ack)
		}
	}

	// db stats, backup, restore into a new store, compact.
	code, out, stderr := runCmd(t, "db", "stats", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("db stats: %d %s", code, stderr)
	}
	var st storage.Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.KeysByPrefix["a/"] != uint64(len(all)) || st.KeysByPrefix["k/"] != 1 || st.Schema != storage.Schema {
		t.Errorf("db stats: %v %+v", err, st)
	}
	bk := filepath.Join(dir, "backup")
	if code, _, stderr := runCmd(t, "db", "backup", "--db", db, bk); code != 0 {
		t.Fatalf("db backup: %d %s", code, stderr)
	}
	db2 := filepath.Join(dir, "db2")
	if code, _, stderr := runCmd(t, "db", "restore", "--db", db2, bk); code != 0 {
		t.Fatalf("db restore: %d %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "db", "compact", "--db", db2); code != 0 {
		t.Fatalf("db compact: %d %s", code, stderr)
	}
	_, a1, _ := runCmd(t, "alerts", "--db", db, "--json")
	_, a2, _ := runCmd(t, "alerts", "--db", db2, "--json")
	if a1 != a2 {
		t.Error("the restored store's alerts differ")
	}
	if code, _, _ := runCmd(t, "db", "frobnicate", "--db", db); code != 2 {
		t.Errorf("unknown db subcommand: exit %d", code)
	}
}

// cli returns a command running this test binary as shadowtap.
func cli(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	return cmd
}

var (
	snapshotLine = regexp.MustCompile(`"generation":(\d+),"requests":(\d+).*"state snapshot"`)
	savedLine    = regexp.MustCompile(`"generation":(\d+).*"state saved"`)
)

// TestCrashSafety kills a real analyze process with SIGKILL after its
// third periodic save, reopens the store and finds the state of a
// complete save: loadable, and holding exactly the requests that save
// counted.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a capture and runs a child process")
	}
	dir := t.TempDir()
	if _, err := synth.Simulate(filepath.Join(dir, "sim"), synth.SimOptions{Days: 4, Seed: 5, Scale: 2}); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "db")
	cmd := cli("analyze", "--db", db, "--db-save-every", "20m", "--db-save-wall", "0", "--log-level", "debug", "--report", filepath.Join(dir, "r.json"), filepath.Join(dir, "sim", "traffic.pcap"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const killAfter = 3
	saved := map[uint64]uint64{} // generation → requests its snapshot holds
	var committed uint64         // the last generation reported written
	sc := bufio.NewScanner(stderr)
	killed := false
	for sc.Scan() {
		if m := snapshotLine.FindStringSubmatch(sc.Text()); m != nil {
			gen, _ := strconv.ParseUint(m[1], 10, 64)
			req, _ := strconv.ParseUint(m[2], 10, 64)
			saved[gen] = req
		}
		if m := savedLine.FindStringSubmatch(sc.Text()); m != nil && !killed {
			committed, _ = strconv.ParseUint(m[1], 10, 64)
			if committed >= killAfter {
				cmd.Process.Signal(syscall.SIGKILL)
				killed = true
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("no periodic save before the end (%v)", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("the child was not killed mid-way: %v (make the capture bigger)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.json")); err == nil {
		t.Fatal("the child finished its report before the kill")
	}
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer s.Close()
	gen, err := detect.SavedGeneration(s)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := saved[gen]
	if !ok || gen < committed {
		t.Fatalf("store at generation %d, the child had committed %d (snapshots %v)", gen, committed, saved)
	}
	e, err := detect.NewEngine(detect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Load(s); err != nil {
		t.Fatalf("loading the state after SIGKILL: %v", err)
	}
	var got uint64
	for _, ep := range e.Report().Endpoints {
		got += ep.Count
	}
	if got != want {
		t.Fatalf("state holds %d requests, save %d counted %d", got, gen, want)
	}
	eps, _, err := detect.ReadEndpoints(s)
	if err != nil || len(eps) == 0 {
		t.Fatalf("endpoints view after the kill: %d, %v", len(eps), err)
	}
	t.Logf("killed after save %d committed; store at save %d (%d requests); %d snapshots taken", committed, gen, want, len(saved))

	// The store is usable: analysing on continues from it.
	s.Close()
	if code, _, stderr := runCmd(t, "analyze", "--db", db, "--report", filepath.Join(dir, "r2.json"), filepath.Join("..", "..", "testdata", "ipv6.pcap")); code != 0 {
		t.Fatalf("analyze after the crash: %d %s", code, stderr)
	}
}

// githubToken makes a GitHub personal access token with a valid checksum
// from a 30-character body: the body's CRC-32 in base62, six characters.
func githubToken(body string) string {
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	v := crc32.ChecksumIEEE([]byte(body))
	var sum [6]byte
	for i := 5; i >= 0; i-- {
		sum[i] = digits[v%62]
		v /= 62
	}
	return "ghp_" + body + string(sum[:])
}

// TestNothingSecretWritten plants credentials, secrets and personal data
// in traffic, analyses it with a store, a report, transactions and debug
// logs, and looks for the clear values in every file written and every
// value of the store: none may appear.
func TestNothingSecretWritten(t *testing.T) {
	dir := t.TempDir()
	planted := map[string]string{
		"bearer":  "PlantedBearerToken7f3a9c2e",
		"api key": "PlantedQueryKeyQ9w8e7r6",
		"cookie":  "PlantedSessionCookie5d4c3b",
		"basic":   "cGxhbnRlZDpwYXNzd29yZDEyMw==",
		// Realistic tokens: random bodies, GitHub's checksum, no
		// documentation examples (the scanner rightly ignores those).
		"hf token":    "hf_vQmZ8kTn3RwXp5LcYj2HsBd7FgA9eUoN4i",
		"aws key":     "AKIAQ7VN5XK2M4TRZ8PL",
		"aws secret":  "u7Rb2Kx9Qm4ZtWc1Lp8Vn3Hs6Yd0Fg5Je2Aa7Bk9",
		"github":      githubToken("R8mK2vN7qXw4Lz9TcP5yHb3JdF6gS1"),
		"stripe":      "sk_live_51Hq8ZpK3vN7xW2mR9tL4cY6b",
		"email":       "planted.person@example.org",
		"ssn":         "078-05-1120",
		"card":        "4111111111111111",
		"iban":        "DE89370400440532013000",
		"private key": "MIIEplantedPrivateKeyBody0123456789",
	}
	pcap := filepath.Join(dir, "secrets.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWriter(f, synth.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(i int, req synth.Request, resp synth.Response) {
		t.Helper()
		req.Host = "api.example.com"
		writeExchange(t, w, i, req, resp)
	}
	pii := `{"email":"` + planted["email"] + `","ssn":"` + planted["ssn"] + `","card":"` + planted["card"] + `","iban":"` + planted["iban"] + `"}`
	for i := 0; i < 4; i++ {
		exchange(10*i+0, synth.Request{Target: "/v1/me", Header: []synth.Header{{Name: "Authorization", Value: "Bearer " + planted["bearer"]}}},
			synth.Response{Header: []synth.Header{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(`{"key":"` + planted["stripe"] + `"}`)})
		exchange(10*i+1, synth.Request{Target: "/v1/items?api_key=" + planted["api key"] + "&note=" + planted["github"]},
			synth.Response{Body: []byte(`[]`)})
		exchange(10*i+2, synth.Request{Target: "/v1/models/" + planted["hf token"] + "/files", Header: []synth.Header{{Name: "Cookie", Value: "session=" + planted["cookie"]}}},
			synth.Response{Body: []byte(`{}`)})
		exchange(10*i+3, synth.Request{Method: "POST", Target: "/v1/notes", Header: []synth.Header{{Name: "Authorization", Value: "Basic " + planted["basic"]}, {Name: "Content-Type", Value: "text/plain"}},
			Body: []byte("aws_access_key_id=" + planted["aws key"] + "\naws_secret_access_key=" + planted["aws secret"] + "\n-----BEGIN RSA PRIVATE KEY-----\n" + planted["private key"] + "\n-----END RSA PRIVATE KEY-----\n")},
			synth.Response{Status: 201, Body: []byte(`{}`)})
		exchange(10*i+4, synth.Request{Target: "/v1/export"},
			synth.Response{Header: []synth.Header{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(pii)})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	db := filepath.Join(dir, "db")
	rep, txs, logf := filepath.Join(dir, "report.json"), filepath.Join(dir, "tx.jsonl"), filepath.Join(dir, "stderr.log")
	var errb bytes.Buffer
	code := run([]string{"analyze", "--db", db, "--db-save-every", "1s", "--db-save-wall", "0", "--db-sample", "1", "--log-level", "debug", "--report", rep, "--transactions", txs, pcap}, &bytes.Buffer{}, &errb)
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errb.String())
	}
	os.WriteFile(logf, errb.Bytes(), 0o600)
	// The traffic must have been seen for the test to mean anything.
	r, _ := os.ReadFile(rep)
	for _, want := range []string{"secret_exposure", "sensitive_data_exposure", `"bearer"`} {
		if !bytes.Contains(r, []byte(want)) {
			t.Fatalf("the report lacks %s: the planted traffic was not analysed", want)
		}
	}
	// Each planted token was recognised: its fingerprint is reported.
	for _, what := range []string{"hf token", "github", "stripe", "aws secret"} {
		sum := sha256.Sum256([]byte(planted[what]))
		if fp := "secret:" + hex.EncodeToString(sum[:4]); !bytes.Contains(r, []byte(fp)) {
			t.Errorf("the %s was not recognised (no %s in the report)", what, fp)
		}
	}
	check := func(where string, b []byte) {
		t.Helper()
		for what, v := range planted {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the %s in clear", where, what)
			}
		}
	}
	// Every file written: outputs, log, the store's files.
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || path == pcap {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		check(path, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every key and value of the store, decompressed.
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	if err := s.Scan(nil, func(k, v []byte) error {
		n++
		check("store key "+string(k), k)
		check("store value "+string(k), v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("store holds %d keys: nothing was persisted", n)
	}
	s.Close()
	// The alerts name types and fingerprints instead.
	_, out, _ := runCmd(t, "alerts", "--db", db, "--json")
	check("alerts output", []byte(out))
	if !strings.Contains(out, "secret:") {
		t.Errorf("alerts carry no fingerprint:\n%s", out)
	}
	_, out, _ = runCmd(t, "transactions", "--db", db)
	check("transactions samples", []byte(out))
	if n := strings.Count(out, "\n"); n != 20 {
		t.Errorf("%d samples stored, want all 20 transactions", n)
	}
}

// TestAnalyzeDBSameReport checks that persisting (with frequent periodic
// saves) changes nothing in the report of a run.
func TestAnalyzeDBSameReport(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a capture")
	}
	dir := t.TempDir()
	if _, err := synth.Simulate(filepath.Join(dir, "sim"), synth.SimOptions{Days: 2, Seed: 9, Users: 40}); err != nil {
		t.Fatal(err)
	}
	pcap, spec := filepath.Join(dir, "sim", "traffic.pcap"), filepath.Join(dir, "sim", "documented.yaml")
	var reports [2]string
	for i, db := range []string{"none", filepath.Join(dir, "db")} {
		out := filepath.Join(dir, fmt.Sprintf("r%d.json", i))
		if code, _, stderr := runCmd(t, "analyze", "--db", db, "--db-save-every", "10m", "--db-save-wall", "0", "--spec", spec, "--report", out, pcap); code != 0 {
			t.Fatalf("--db %s: exit %d: %s", db, code, stderr)
		}
		b, _ := os.ReadFile(out)
		reports[i] = generatedAt.ReplaceAllString(string(b), "")
	}
	if reports[0] != reports[1] {
		t.Fatalf("the report with a store differs from the one without")
	}
}

// TestSaveWallFloor checks --db-save-wall: with a floor longer than the
// run no periodic save happens (only the final one), without it a save
// happens every --db-save-every of capture time; the report is the same.
func TestSaveWallFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a capture")
	}
	dir := t.TempDir()
	if _, err := synth.Simulate(filepath.Join(dir, "sim"), synth.SimOptions{Days: 2, Seed: 9, Users: 40}); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "sim", "traffic.pcap")
	saves := func(wall string) (int, string) {
		db, out := filepath.Join(dir, "db"+wall), filepath.Join(dir, "r"+wall+".json")
		code, _, stderr := runCmd(t, "analyze", "--db", db, "--db-save-every", "1h", "--db-save-wall", wall, "--log-level", "debug", "--report", out, pcap)
		if code != 0 {
			t.Fatalf("--db-save-wall %s: exit %d: %s", wall, code, stderr)
		}
		b, _ := os.ReadFile(out)
		return len(savedLine.FindAllString(stderr, -1)), generatedAt.ReplaceAllString(string(b), "")
	}
	nFloor, rFloor := saves("1h")
	nFree, rFree := saves("0")
	if nFloor != 1 {
		t.Errorf("with a 1h wall-clock floor: %d saves, want only the final one", nFloor)
	}
	// 48 chances over 2 days of capture; one that comes while a write is still
	// in flight is skipped.
	if nFree < 10 {
		t.Errorf("without a floor: %d saves over 2 days of capture saved hourly, want at least 10", nFree)
	}
	if rFloor != rFree {
		t.Error("the reports differ with and without the floor")
	}
}

// writeExchange writes the i-th exchange of a hand-built capture: its own
// connection i seconds after 2026-03-02 09:00 UTC, from one of five
// clients to 192.0.2.1:80, closed by the client.
func writeExchange(t *testing.T, w *synth.Writer, i int, req synth.Request, resp synth.Response) {
	t.Helper()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c, err := synth.NewConn(w, start.Add(time.Duration(i)*time.Second), synth.ConnOptions{
		Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%5)}), uint16(40000+i)),
		Server: netip.MustParseAddrPort("192.0.2.1:80"),
	})
	if err != nil {
		t.Fatal(err)
	}
	rq, _ := req.Bytes()
	rs, _ := resp.Bytes()
	if err := c.Exchange(rq, rs, 2*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(synth.ClientToServer); err != nil {
		t.Fatal(err)
	}
}
