package detect

import (
	"strconv"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
)

func TestSensitiveDataExposure(t *testing.T) {
	body := func(s string) func(i int) *reassembly.Transaction {
		return func(i int) *reassembly.Transaction {
			t := tx(i, "GET", "api.example.com", "/v1/customers/"+strconv.Itoa(100+i), 200)
			t.RespBody = []byte(s)
			return t
		}
	}
	withAuth := func(f func(int) *reassembly.Transaction) func(int) *reassembly.Transaction {
		return func(i int) *reassembly.Transaction {
			t := f(i)
			t.ReqHeaders = []reassembly.Header{{Name: "Authorization", Value: "Bearer abcdef0123456789"}}
			return t
		}
	}
	tests := []struct {
		name     string
		n        int
		mk       func(int) *reassembly.Transaction
		severity string // "" for no alert
	}{
		{"emails to anonymous callers", 5, body(`{"email":"ann@example.org"}`), SeverityHigh},
		{"below the minimum", piiMinResponses - 1, body(`{"email":"ann@example.org"}`), ""},
		{"authenticated callers", 5, withAuth(body(`{"email":"ann@example.org"}`)), ""},
		{"no personal data", 5, body(`{"name":"widget","price":3}`), ""},
		{"card numbers are critical", 5, body(`{"card":"` + luhnComplete("453201511283036") + `"}`), SeverityCritical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, Options{})
			for i := 0; i < tt.n; i++ {
				e.Observe(tt.mk(i))
			}
			var got []Alert
			for _, a := range e.Report().Alerts {
				if a.Kind == KindSensitiveDataExposure {
					got = append(got, a)
				}
			}
			if tt.severity == "" {
				if len(got) != 0 {
					t.Fatalf("want no alert, got %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != tt.severity || got[0].Count != uint64(tt.n) || got[0].Path != "/v1/customers/{customerId}" {
				t.Fatalf("got %+v", got)
			}
			if got[0].Evidence["detected_at"] == "" || got[0].Evidence["clients"] != tt.n {
				t.Errorf("evidence %+v", got[0].Evidence)
			}
		})
	}
}
