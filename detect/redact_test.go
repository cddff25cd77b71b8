package detect

import (
	"strings"
	"testing"
)

func TestRedactURI(t *testing.T) {
	var (
		hf   = hfTok
		ghp  = ghTok
		akia = awsKeyID
		sk   = stripeKey
		jwt  = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	)
	tests := []struct{ name, in, want string }{
		{"no query", "/users/42", "/users/42"},
		{"plain query untouched", "/search?q=shoes&page=2", "/search?q=shoes&page=2"},
		{"api_key param", "/v1/data?api_key=abc123&x=1", "/v1/data?api_key=REDACTED&x=1"},
		{"param names case-insensitive", "/v1/data?API_KEY=abc&Token=t0k", "/v1/data?API_KEY=REDACTED&Token=REDACTED"},
		{"password and access_token", "/login?user=bob&password=hunter2&access_token=zz", "/login?user=bob&password=REDACTED&access_token=REDACTED"},
		{"empty credential value stays", "/x?key=&a=b", "/x?key=&a=b"},
		{"flag without value", "/x?debug&key=s", "/x?debug&key=REDACTED"},
		{"hf token in path", "/models/" + hf + "/files", "/models/REDACTED/files"},
		{"ghp token in path", "/hook/" + ghp, "/hook/REDACTED"},
		{"AKIA in query value", "/s3?id=" + akia + "&region=eu", "/s3?id=REDACTED&region=eu"},
		{"sk_live in non-credential param", "/charge?stripe=" + sk, "/charge?stripe=REDACTED"},
		{"jwt in query value", "/cb?state=1&jwt_hint=" + jwt, "/cb?state=1&jwt_hint=REDACTED"},
		{"secret embedded in a longer value", "/x?note=prefix-" + akia + "-suffix", "/x?note=prefix-REDACTED-suffix"},
		{"two secrets in one value", "/x?pair=" + akia + ":" + ghp, "/x?pair=REDACTED:REDACTED"},
		{"documentation example key redacted too", "/x?id=AKIAIOSFODNN7EXAMPLE", "/x?id=REDACTED"},
		{"token failing its checksum redacted too", "/x?ref=ghp_Planted0123456789abcdefghijklmnopqrstuv", "/x?ref=REDACTED"},
		{"hf token of another length redacted too", "/m/hf_PlantedHuggingFace0123456789abcdefABCDEF/f", "/m/REDACTED/f"},
		{"look-alikes stay", "/hf_short/ghp_x?v=AKIA12&s=sk_live_", "/hf_short/ghp_x?v=AKIA12&s=sk_live_"},
		{"percent-encoded name", "/x?api%5Fkey=abc123&q=1", "/x?api%5Fkey=REDACTED&q=1"},
		{"bracketed name", "/x?token[]=abc123&token[1]=t2", "/x?token[]=REDACTED&token[1]=REDACTED"},
		{"userinfo of absolute form", "http://bob:hunter2@api.example.com/v1/x?q=1", "http://REDACTED@api.example.com/v1/x?q=1"},
		{"userinfo with @ in password", "https://u:p@ss@h.example/", "https://REDACTED@h.example/"},
		{"@ in the path is no userinfo, but an e-mail", "http://h.example/users/a@b.io", "http://h.example/users/REDACTED"},
		{"API keys under well-known names", "/data/2.5/weather?q=Paris&appid=0123abcd&subscription-key=k", "/data/2.5/weather?q=Paris&appid=REDACTED&subscription-key=REDACTED"},
		{"e-mail in the path", "/v1/users/jane.doe@example.com/profile", "/v1/users/REDACTED/profile"},
		{"e-mail in a query value", "/lookup?email=jane.doe@example.com&x=1", "/lookup?email=REDACTED&x=1"},
		{"percent-encoded e-mail in a query value", "/lookup?email=jane.doe%40example.com&x=1", "/lookup?email=REDACTED&x=1"},
		{"retina file name is no e-mail", "/img/logo@2x.png", "/img/logo@2x.png"},
		{"token in fragment", "/cb#access_token=abc123&state=x", "/cb#access_token=REDACTED&state=x"},
		{"query then fragment", "/cb?code=abc123#state=1", "/cb?code=REDACTED#state=1"},
		{"bare secret as a query flag", "/x?" + ghp, "/x?REDACTED"},
		{"empty", "", ""},
		{"only question mark", "/a?", "/a?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RedactURI(tc.in)
			if got != tc.want {
				t.Errorf("RedactURI(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			for _, secret := range []string{hf, ghp, akia, sk, jwt, "hunter2", "abc123"} {
				if strings.Contains(got, secret) {
					t.Errorf("secret %q left in %q", secret, got)
				}
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	got := parseQuery("/p?a=1&&b&c=x=y#frag")
	want := []queryParam{{"a", "1"}, {"b", ""}, {"c", "x=y"}}
	if len(got) != len(want) {
		t.Fatalf("parseQuery = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("param %d = %q, want %q", i, got[i], want[i])
		}
	}
	if parseQuery("/p") != nil || parseQuery("/p?") != nil {
		t.Error("no query must give nil")
	}
}

// FuzzRedactURI: no recognised secret of the input and no value of a
// credential parameter survives redaction, and a target without either
// comes back unchanged.
func FuzzRedactURI(f *testing.F) {
	for _, s := range []string{"/users/42?q=1", "/x?api_key=abc", "/m/hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
		"http://u:p@h/x?token[]=1#access_token=2", "/x?AKIAIOSFODNN7EXAMPLE", "/a?b=c=d&&e", "/x?api%5Fkey=v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got := RedactURI(target)
		found := theScanner.scan([]byte(target), scanSecrets|scanJWT|scanLenient, nil)
		for _, f := range found {
			if m := target[f.start:f.end]; strings.Contains(got, m) {
				t.Fatalf("%s %q survived: %q", f.typ, m, got)
			}
		}
		rest, frag, _ := strings.Cut(target, "#")
		_, query, _ := strings.Cut(rest, "?")
		for _, list := range []string{query, frag} {
			for _, p := range strings.Split(list, "&") {
				name, value, ok := strings.Cut(p, "=")
				if ok && len(value) >= 4 && credentialParams[paramKey(name)] && !strings.Contains(Redacted, value) &&
					strings.Contains(got, name+"="+value) {
					t.Fatalf("credential %s=%s survived: %q", name, value, got)
				}
			}
		}
		if !strings.Contains(target, "@") && got != target && len(found) == 0 {
			for _, list := range []string{query, frag} {
				for _, p := range strings.Split(list, "&") {
					if name, v, ok := strings.Cut(p, "="); ok && v != "" && credentialParams[paramKey(name)] {
						return // a credential was redacted
					}
				}
			}
			t.Fatalf("changed without cause: %q → %q", target, got)
		}
	})
}
