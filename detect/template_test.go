package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// word returns a pronounceable lower-case word (a username or slug that no
// segment rule can tell from a fixed word).
func word(r *rand.Rand) string {
	const cons, vows = "bcdfghjklmnprstvz", "aeiou"
	var b strings.Builder
	for range 2 + r.IntN(3) {
		b.WriteByte(cons[r.IntN(len(cons))])
		b.WriteByte(vows[r.IntN(len(vows))])
	}
	return b.String()
}

func hexID(r *rand.Rand, n int) string {
	const h = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = h[r.IntN(16)]
	}
	if !strings.ContainsAny(string(b), "0123456789") {
		b[0] = '7'
	}
	return string(b)
}

func base62(r *rand.Rand, n int) string {
	const a = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, n)
	for i := range b {
		b[i] = a[r.IntN(len(a))]
	}
	b[1] = '4' // at least one digit
	return string(b)
}

func uuid(r *rand.Rand) string {
	h := hexID(r, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// TestTemplating feeds many concrete requests of real-world API styles and
// checks the templates the report converges to.
func TestTemplating(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand, i int) (method, target string)
		want []string
	}{
		{"numeric ids with parent names", func(r *rand.Rand, i int) (string, string) {
			return "GET", fmt.Sprintf("/users/%d/orders/%d", r.IntN(1e6), r.IntN(1e9))
		}, []string{"GET /users/{userId}/orders/{orderId}"}},
		{"github owners and repos are words", func(r *rand.Rand, i int) (string, string) {
			sub := []string{"issues", "pulls", "commits"}[i%3]
			return "GET", fmt.Sprintf("/repos/%s/%s/%s/%d", word(r), word(r), sub, 1+r.IntN(5000))
		}, []string{"GET /repos/{repoId}/{id}/commits/{commitId}", "GET /repos/{repoId}/{id}/issues/{issueId}", "GET /repos/{repoId}/{id}/pulls/{pullId}"}},
		{"github users by login, fixed words beside", func(r *rand.Rand, i int) (string, string) {
			switch i % 4 {
			case 0:
				return "GET", "/user"
			case 1:
				return "GET", "/rate_limit"
			}
			return "GET", "/users/" + word(r) + "/repos"
		}, []string{"GET /rate_limit", "GET /user", "GET /users/{userId}/repos"}},
		{"stripe prefixed ids under v1", func(r *rand.Rand, i int) (string, string) {
			if i%2 == 0 {
				return "POST", "/v1/customers/cus_" + base62(r, 14)
			}
			return "GET", "/v1/payment_intents/pi_" + base62(r, 24) + "/capture"
		}, []string{"GET /v1/payment_intents/{paymentIntentId}/capture", "POST /v1/customers/{customerId}"}},
		{"twilio dated version, SIDs, .json suffix", func(r *rand.Rand, i int) (string, string) {
			return "GET", "/2010-04-01/Accounts/AC" + hexID(r, 32) + "/Messages/SM" + hexID(r, 32) + ".json"
		}, []string{"GET /2010-04-01/Accounts/{accountId}/Messages/{messageId}.json"}},
		{"slack methods stay literal", func(r *rand.Rand, i int) (string, string) {
			return "POST", "/api/" + []string{"chat.postMessage", "conversations.list", "users.info", "auth.test"}[i%4]
		}, []string{"POST /api/auth.test", "POST /api/chat.postMessage", "POST /api/conversations.list", "POST /api/users.info"}},
		{"shopify dated api version and numeric .json", func(r *rand.Rand, i int) (string, string) {
			return "GET", fmt.Sprintf("/admin/api/2024-01/products/%d.json", 1e8+r.IntN(1e8))
		}, []string{"GET /admin/api/2024-01/products/{productId}.json"}},
		{"mongo object ids", func(r *rand.Rand, i int) (string, string) {
			return "DELETE", "/api/v2/items/" + hexID(r, 24)
		}, []string{"DELETE /api/v2/items/{itemId}"}},
		{"uuids and categories", func(r *rand.Rand, i int) (string, string) {
			return "GET", "/categories/" + uuid(r)
		}, []string{"GET /categories/{categoryId}"}},
		{"emails and dates", func(r *rand.Rand, i int) (string, string) {
			if i%2 == 0 {
				return "GET", "/accounts/by-email/" + word(r) + "@example.com"
			}
			return "GET", fmt.Sprintf("/reports/daily/2025-%02d-%02d", 1+r.IntN(12), 1+r.IntN(28))
		}, []string{"GET /accounts/by-email/{byEmailId}", "GET /reports/daily/{dailyId}"}},
		{"numbered api versions stay (jira), ids under them do not", func(r *rand.Rand, i int) (string, string) {
			if i%3 == 2 {
				return "GET", fmt.Sprintf("/api/items/%d", r.IntN(50))
			}
			return "GET", fmt.Sprintf("/rest/api/%d/issue/%d", 2+i%2, r.IntN(99999))
		}, []string{"GET /api/items/{itemId}", "GET /rest/api/2/issue/{issueId}", "GET /rest/api/3/issue/{issueId}"}},
		{"version segments never merge", func(r *rand.Rand, i int) (string, string) {
			return "GET", fmt.Sprintf("/v%d/status", 1+i%3)
		}, []string{"GET /v1/status", "GET /v2/status", "GET /v3/status"}},
		{"number-suffixed words stay", func(r *rand.Rand, i int) (string, string) {
			return "POST", "/encode/" + []string{"base64", "hex", "utf8"}[i%3]
		}, []string{"POST /encode/base64", "POST /encode/hex", "POST /encode/utf8"}},
		{"long random tokens", func(r *rand.Rand, i int) (string, string) {
			return "GET", "/share/" + base62(r, 22)
		}, []string{"GET /share/{shareId}"}},
		{"many fixed resources at the root stay", func(r *rand.Rand, i int) (string, string) {
			return "GET", "/" + names("res", 40)[i%40]
		}, nil}, // checked below: 40 literal endpoints
		{"mixed alphanumeric ids", func(r *rand.Rand, i int) (string, string) {
			return "GET", fmt.Sprintf("/tickets/T%dX%d", r.IntN(1000), r.IntN(1000))
		}, []string{"GET /tickets/{ticketId}"}},
		{"fixed siblings of an id stay", func(r *rand.Rand, i int) (string, string) {
			return "GET", "/users/" + []string{"me", "search", fmt.Sprint(r.IntN(1e6)), fmt.Sprint(r.IntN(1e6))}[i%4]
		}, []string{"GET /users/me", "GET /users/search", "GET /users/{userId}"}},
		{"sku-style ids", func(r *rand.Rand, i int) (string, string) {
			return "GET", fmt.Sprintf("/v1/products/SKU-%05d", 1+r.IntN(300))
		}, []string{"GET /v1/products/{productId}"}},
		{"zipf usernames: popular ones repeat, new ones keep coming", func(r *rand.Rand, i int) (string, string) {
			if r.IntN(4) != 0 {
				return "GET", "/profiles/" + names("star", 5)[r.IntN(5)] + "/feed"
			}
			return "GET", "/profiles/" + word(r) + "/feed"
		}, []string{"GET /profiles/{profileId}/feed"}},
		{"zipf over 40 fixed words stays literal", func(r *rand.Rand, i int) (string, string) {
			k := int(float64(40) * r.Float64() * r.Float64())
			return "GET", "/api/" + names("thing", 40)[k]
		}, nil},
		{"fixed subresources with steady traffic", func(r *rand.Rand, i int) (string, string) {
			return "GET", "/api/" + names("thing", 30)[r.IntN(30)]
		}, nil}, // 30 literals in uniform random order: stays literal
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, Options{})
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 3000 {
				m, p := tc.gen(r, i)
				e.Observe(tx(i, m, "api.example.com", p, 200))
			}
			got := templates(e.Report(), "api.example.com")
			if tc.want == nil {
				for _, g := range got {
					if strings.Contains(g, "{") {
						t.Errorf("fixed words were merged: %s", g)
					}
				}
				if len(got) < 30 {
					t.Errorf("got %d endpoints, want ≥ 30", len(got))
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("templates\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		seg    string
		want   segClass
		suffix string
	}{
		{"42", classInt, ""}, {"users", classLiteral, ""}, {"v1", classLiteral, ""}, {"v2beta1", classLiteral, ""},
		{"550e8400-e29b-41d4-a716-446655440000", classUUID, ""},
		{"5f8d0d55b54764421b7156c9", classHex, ""}, {"deadbeef", classLiteral, ""},
		{"cus_NffrFeUfNV2Hib", classPrefixedID, ""}, {"ord_ab12cd34", classPrefixedID, ""},
		{"a@b.io", classEmail, ""}, {"bob%40example.com", classEmail, ""},
		{"2024-02-29", classDate, ""}, {"123.json", classInt, ".json"}, {"report.json", classLiteral, ""},
		{"aGVsbG8gd29ybGQhIQ", classToken, ""}, {"base64", classLiteral, ""}, {"sha256", classLiteral, ""},
		{"oauth2", classLiteral, ""}, {"a1b2c3", classMixed, ""}, {"chat.postMessage", classLiteral, ""},
		{"rate_limit", classLiteral, ""}, {"", classLiteral, ""},
		{"mark_uncollectible", classLiteral, ""}, {"cus_NffrFeUfNVHibQaXz", classPrefixedID, ""},
	}
	for _, tc := range tests {
		c, sfx := classify(tc.seg)
		if c != tc.want || sfx != tc.suffix {
			t.Errorf("classify(%q) = %d %q, want %d %q", tc.seg, c, sfx, tc.want, tc.suffix)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"/", nil}, {"", nil}, {"/a/b?x=1", []string{"a", "b"}}, {"/a//b/", []string{"a", "", "b"}},
		{"http://h.example/x/y?q", []string{"x", "y"}}, {"https://h.example", nil}, {"/a#frag", []string{"a"}},
		{"*", []string{"*"}},
	}
	for _, tc := range tests {
		if got := splitPath(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("splitPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDotSegmentProbes(t *testing.T) {
	e := mustEngine(t, Options{})
	for i, p := range []string{"/v1/../../../etc/passwd", "/static/%2e%2e/%2E%2E/secret", "/a/./b"} {
		if got := e.Observe(tx(i, "GET", "h", p, 404)); got != "" {
			t.Errorf("%s -> %q, want no template", p, got)
		}
	}
	e.Observe(tx(9, "GET", "h", "/v1/..x/ok", 200))
	rep := e.Report()
	if len(rep.Endpoints) != 1 || rep.Endpoints[0].Path != "/v1/..x/ok" {
		t.Errorf("endpoints %+v", rep.Endpoints)
	}
	if len(rep.Summary.Warnings) != 1 || !strings.HasPrefix(rep.Summary.Warnings[0], "3 requests with dot-segments") {
		t.Errorf("warnings %q", rep.Summary.Warnings)
	}
}

func TestParamName(t *testing.T) {
	for in, want := range map[string]string{
		"users": "userId", "categories": "categoryId", "addresses": "addressId", "boxes": "boxId",
		"payment_intents": "paymentIntentId", "by-email": "byEmailId", "v1": "id", "": "id", "{": "id", "status": "statusId",
	} {
		if got := paramName(in); got != want {
			t.Errorf("paramName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConvergence checks that requests observed before a position was
// learnt are re-mapped: the report aggregates all of them under the final
// template, and the template then stays stable.
func TestConvergence(t *testing.T) {
	e := mustEngine(t, Options{})
	r := rand.New(rand.NewPCG(3, 4))
	var early []string
	for i := range 10 {
		early = append(early, e.Observe(tx(i, "GET", "h", "/users/"+word(r)+"/profile", 200)))
	}
	if early[0] == "/users/{userId}/profile" {
		t.Fatalf("learnt from one value: %q", early[0])
	}
	for i := 10; i < 500; i++ {
		e.Observe(tx(i, "GET", "h", "/users/"+word(r)+"/profile", 200))
	}
	final := e.Observe(tx(500, "GET", "h", "/users/alice/profile", 200))
	if final != "/users/{userId}/profile" {
		t.Fatalf("final template %q", final)
	}
	rep := e.Report()
	if len(rep.Endpoints) != 1 || rep.Endpoints[0].Count != 501 {
		t.Fatalf("endpoints %+v", rep.Endpoints)
	}
	if rep.Endpoints[0].FirstSeen != FormatTime(t0) {
		t.Errorf("first_seen %s, want the first request's", rep.Endpoints[0].FirstSeen)
	}
	// Stable: a fixed word now arriving at the learnt position is a value.
	if got := e.Observe(tx(501, "GET", "h", "/users/settings/profile", 200)); got != final {
		t.Errorf("template changed after convergence: %q", got)
	}
}

// TestTrieLastLit: the literal child insertClassed remembers per node is
// always the one lit holds under its label, through learning (which folds
// a node's words into a parameter) and merges.
func TestTrieLastLit(t *testing.T) {
	tr := trie{max: 2000}
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"v1", "users", "orders", "me", "search", "items", "admin"}
	for i := range 20000 {
		segs := []string{"v1", words[r.IntN(len(words))]}
		switch r.IntN(4) {
		case 0:
			segs = append(segs, word(r)) // words that become a parameter
		case 1:
			segs = append(segs, words[r.IntN(len(words))], word(r))
		case 2:
			segs = append(segs, strconv.Itoa(r.IntN(1000)))
		}
		status := 200
		if i%17 == 0 {
			status = 404
		}
		n := tr.insertHinted(segs, status, nil)
		// The template found is the one a fresh walk finds.
		if got, again := tr.templateOf(n), tr.templateOf(tr.insertHinted(segs, status, nil)); got != again {
			t.Fatalf("%v: %s then %s", segs, got, again)
		}
	}
	learnt := 0
	var visit func(n *node)
	visit = func(n *node) {
		if n.learnt {
			learnt++
		}
		if c := n.lastLit; c != nil && (n.learnt || n.lit[c.label] != c) {
			t.Fatalf("node %q remembers child %q that lit does not hold", n.label, c.label)
		}
		for _, c := range n.lit {
			visit(c)
		}
		for _, c := range n.params {
			visit(c)
		}
	}
	visit(&tr.root)
	if learnt == 0 {
		t.Fatal("nothing learnt: the test does not exercise learning")
	}
}
