package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestSimulateDeterministic(t *testing.T) {
	o := SimOptions{Days: 3, Users: 20, Seed: 7, Impair: true}
	var a, b, da, db bytes.Buffer
	ta, err := SimulateTo(&a, &da, o)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := SimulateTo(&b, &db, o)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(ta)
	jb, _ := json.Marshal(tb)
	if !bytes.Equal(a.Bytes(), b.Bytes()) || !bytes.Equal(da.Bytes(), db.Bytes()) || !bytes.Equal(ja, jb) {
		t.Fatalf("same seed, different output: pcap %x vs %x", sha256.Sum256(a.Bytes()), sha256.Sum256(b.Bytes()))
	}
	var c bytes.Buffer
	o.Seed = 8
	if _, err := SimulateTo(&c, &bytes.Buffer{}, o); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds gave the same capture")
	}
	if ta.Totals.Transactions == 0 || uint64(a.Len()) != ta.Totals.Bytes {
		t.Fatalf("totals %+v, capture %d bytes", ta.Totals, a.Len())
	}
}

func TestSimulateDir(t *testing.T) {
	dir := t.TempDir()
	tr, err := Simulate(dir, SimOptions{Days: 2, Users: 15, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"traffic.pcap", "documented.yaml", "truth.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "documented.yaml"))
	if err != nil {
		t.Fatalf("documented.yaml: %v", err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("documented.yaml invalid: %v", err)
	}
	documented := 0
	for _, op := range tr.Operations {
		if op.Documented {
			documented++
		}
	}
	n := 0
	for _, item := range doc.Paths.Map() {
		n += len(item.Operations())
	}
	if n != documented || documented == len(tr.Operations) {
		t.Fatalf("spec has %d operations, truth says %d of %d documented", n, documented, len(tr.Operations))
	}
	var sum int64
	for _, op := range tr.Operations {
		sum += op.Transactions
	}
	if sum != tr.Totals.Transactions {
		t.Fatalf("operations sum to %d, totals say %d", sum, tr.Totals.Transactions)
	}
}

func TestSimulateSpec(t *testing.T) {
	for _, spec := range []string{"testdata/library-openapi3.yaml", "testdata/weather-swagger2.yaml"} {
		t.Run(filepath.Base(spec), func(t *testing.T) {
			dir := t.TempDir()
			tr, err := Simulate(dir, SimOptions{Days: 2, Users: 15, Seed: 4, Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "documented.yaml"))
			if err != nil {
				t.Fatalf("documented.yaml: %v", err)
			}
			n, documented, used := 0, 0, 0
			for _, item := range doc.Paths.Map() {
				n += len(item.Operations())
			}
			for _, op := range tr.Operations {
				if op.Documented {
					documented++
				}
				if op.Used {
					used++
				}
			}
			if n != documented || documented == len(tr.Operations) || used == 0 {
				t.Fatalf("spec has %d operations; truth: %d documented, %d used of %d", n, documented, used, len(tr.Operations))
			}
			if len(tr.Incidents) < 3 || tr.Totals.IncidentTransactions == 0 {
				t.Fatalf("incidents: %+v", tr.Incidents)
			}
		})
	}
}
