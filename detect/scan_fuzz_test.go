package detect

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzScan feeds arbitrary bytes to the scanner in every mode: no panic,
// spans inside the input, at most maxScanFindings, only the kinds the mode
// asks for, what the plain refScan finds, the same answer twice, and a
// finding's value found again when scanned with the bytes around it.
func FuzzScan(f *testing.F) {
	for _, s := range []string{``, `{"email":"ann@mail.example"}`, "ref=" + ghTok, privKey, jwtTok, `{"phone":"+1 415 555 0100","ssn":"536-22-8461"}`,
		`{"iban":"DE89370400440532013000","card_number":"4532015112830366"}`, "AKIA AKIA AKIAQ3EGRUL4VKZ5T6WM", `{"address":{"street":"12 Main St"}}`,
		"eyJ.eyJ.", "-----BEGIN PRIVATE KEY-----\\n", "hooks.slack.com/services/T/B/", `{"birthdate":"1987-06-15"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		orig := bytes.Clone(b)
		for _, mode := range []scanMode{scanSecrets, scanSecrets | scanJWT, scanPersonal, scanSecrets | scanPersonal | scanJWT, scanSecrets | scanLenient} {
			fs := theScanner.scan(b, mode, nil)
			if len(fs) > maxScanFindings {
				t.Fatalf("%d findings", len(fs))
			}
			for _, x := range fs {
				if x.start < 0 || x.end > len(b) || x.start >= x.end {
					t.Fatalf("span %d:%d of %d bytes", x.start, x.end, len(b))
				}
				if x.typ.secret() && mode&(scanSecrets|scanJWT) == 0 || x.typ.personal() && mode&scanPersonal == 0 ||
					x.typ == dtJWT && mode&scanJWT == 0 || x.typ == dtNone || x.typ >= dtCount {
					t.Fatalf("%s found in mode %b", x.typ, mode)
				}
			}
			if again := theScanner.scan(b, mode, nil); !slices.Equal(fs, again) {
				t.Fatalf("two scans differ: %v, %v", fs, again)
			}
		}
		if err := scanAgrees(b); err != nil {
			t.Fatal(err)
		}
		if len(b) <= 4096 {
			if err := keywordAtAgrees(b); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(b, orig) {
			t.Fatal("the scanner wrote to its input")
		}
		_ = classifyBody(b)
		_ = RedactURI(string(b))
	})
}
