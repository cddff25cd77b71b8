package detect

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
)

func TestSecretExposure(t *testing.T) {
	tests := []struct {
		name     string
		tx       func() *reassembly.Transaction
		wantType string // "" for no alert
		severity string
	}{
		{"token in a query parameter", func() *reassembly.Transaction {
			return tx(1, "GET", "api.example.com", "/v1/search?q=x&hf_token="+hfTok, 200)
		}, "huggingface_token", SeverityHigh},
		{"token in the path", func() *reassembly.Transaction {
			return tx(1, "GET", "api.example.com", "/v1/hooks/"+ghTok, 200)
		}, "github_token", SeverityHigh},
		{"API key in its own auth parameter is auth, not exposure", func() *reassembly.Transaction {
			return tx(1, "GET", "api.example.com", "/v1/search?api_key="+ghTok, 200)
		}, "", ""},
		{"bearer token in Authorization is auth", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/me", 200)
			t.ReqHeaders = []reassembly.Header{{Name: "Authorization", Value: "Bearer " + jwtTok}}
			return t
		}, "", ""},
		{"API key header is auth", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/me", 200)
			t.ReqHeaders = []reassembly.Header{{Name: "x-api-key", Value: stripeKey}}
			return t
		}, "", ""},
		{"token in another request header", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/me", 200)
			t.ReqHeaders = []reassembly.Header{{Name: "X-Debug-Upstream", Value: "token " + ghTok}}
			return t
		}, "github_token", SeverityHigh},
		{"issued JWT in a login response is normal", func() *reassembly.Transaction {
			t := tx(1, "POST", "api.example.com", "/v1/auth/login", 200)
			t.RespBody = []byte(`{"access_token":"` + jwtTok + `"}`)
			return t
		}, "", ""},
		{"AWS key in a request body", func() *reassembly.Transaction {
			t := tx(1, "PATCH", "api.example.com", "/v1/accounts/me", 200)
			t.ReqBody = []byte(`{"notes":"aws_access_key_id=` + awsKeyID + `"}`)
			return t
		}, "aws_access_key", SeverityCritical},
		{"documentation example key stays quiet", func() *reassembly.Transaction {
			t := tx(1, "PATCH", "api.example.com", "/v1/accounts/me", 200)
			t.ReqBody = []byte(`{"notes":"aws_access_key_id=AKIAIOSFODNN7EXAMPLE"}`)
			return t
		}, "", ""},
		{"JWT in a non-auth header", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/me", 200)
			t.ReqHeaders = []reassembly.Header{{Name: "X-Debug-Context", Value: jwtTok}}
			return t
		}, "jwt", SeverityHigh},
		{"a header named for a credential is auth", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/me", 200)
			t.ReqHeaders = []reassembly.Header{{Name: "X-Customer-Jwt", Value: jwtTok}, {Name: "X-Client-Secret", Value: stripeKey}}
			return t
		}, "", ""},
		{"gateway identity header is auth", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/me", 200)
			t.ReqHeaders = []reassembly.Header{{Name: "X-Amzn-Oidc-Data", Value: jwtTok}}
			return t
		}, "", ""},
		{"key in a response header", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/debug/config", 200)
			t.RespHeaders = []reassembly.Header{{Name: "X-Debug-Upstream", Value: "aws " + awsKeyID}}
			return t
		}, "aws_access_key", SeverityCritical},
		{"session issued in Set-Cookie is normal", func() *reassembly.Transaction {
			t := tx(1, "POST", "api.example.com", "/v1/login", 200)
			t.RespHeaders = []reassembly.Header{{Name: "Set-Cookie", Value: "gh=" + ghTok + "; HttpOnly"}}
			return t
		}, "", ""},
		{"private key in a response body", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/debug/config", 200)
			t.RespBody = []byte(`{"tls_key":"` + strings.ReplaceAll(privKey, "\n", `\n`) + `"}`)
			return t
		}, "private_key", SeverityCritical},
		{"live Stripe key in a response body", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/accounts/me", 200)
			t.RespBody = []byte(`{"secret_key":"` + stripeKey + `"}`)
			return t
		}, "stripe_live_key", SeverityCritical},
		{"look-alikes stay quiet", func() *reassembly.Transaction {
			t := tx(1, "GET", "api.example.com", "/v1/search?q=ghost_town&ref=sk-short", 200)
			t.RespBody = []byte(`{"name":"AKIA","hf":"hf_short"}`)
			return t
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEngine(t, Options{})
			e.Observe(tt.tx())
			e.Observe(tt.tx()) // the same secret again: one episode
			var alerts []Alert
			for _, a := range e.Report().Alerts {
				if a.Kind == KindSecretExposure {
					alerts = append(alerts, a)
				}
			}
			if tt.wantType == "" {
				if len(alerts) != 0 {
					t.Fatalf("want no alert, got %+v", alerts)
				}
				return
			}
			if len(alerts) != 1 {
				t.Fatalf("want one episode, got %d: %+v", len(alerts), alerts)
			}
			a := alerts[0]
			if a.Evidence["secret_type"] != tt.wantType || a.Severity != tt.severity || a.Count != 2 {
				t.Errorf("got type %v severity %s count %d", a.Evidence["secret_type"], a.Severity, a.Count)
			}
			if a.Evidence["detected_at"] == "" || a.FirstSeen == "" || a.Path == "" {
				t.Errorf("incomplete alert %+v", a)
			}
			js, _ := json.Marshal(a)
			for _, s := range []string{hfTok, ghTok, awsKeyID, stripeKey, jwtTok, privKey[32:96]} {
				if strings.Contains(string(js), s) {
					t.Errorf("the alert carries a secret in clear: %s", js)
				}
			}
		})
	}
}

// TestFindSecretsNoAllocs: a transaction without secrets costs no
// allocation to scan.
func TestFindSecretsNoAllocs(t *testing.T) {
	x := tx(1, "GET", "api.example.com", "/v1/customers/42?expand=orders&limit=10", 200)
	x.ReqHeaders = []reassembly.Header{{Name: "Authorization", Value: "Bearer " + jwtTok}, {Name: "User-Agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}}
	x.RespHeaders = []reassembly.Header{{Name: "Content-Type", Value: "application/json; charset=utf-8"}}
	x.RespBody = []byte(`{"id":42,"name":"Ann Lee","email":"ann@mail.example","orders":[{"id":7,"total":19.99}]}`)
	var p Prepared
	p.scanSecrets(x) // sizes the buffers
	if n := testing.AllocsPerRun(50, func() { p.reset(); p.scanSecrets(x) }); n != 0 {
		t.Errorf("%.1f allocations per transaction", n)
	}
	if len(p.hits) != 0 || p.respTypes != sensEmail || len(p.values) != 1 {
		t.Errorf("hits %v, types %v, values %v", p.hits, p.respTypes.names(), p.values)
	}
}
