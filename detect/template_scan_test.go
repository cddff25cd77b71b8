package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// scanWords is a short directory-scanner word list.
var scanWords = []string{"admin", "backup", "config", "console", "debug", "env", "export", "files", "git", "health",
	"import", "internal", "login", "logs", "metrics", "old", "phpinfo", "private", "secret", "server-status",
	"setup", "shell", "status", "swagger", "test", "tmp", "upload", "wp-admin", "xmlrpc", "actuator",
	"graphql", "api-docs", "dump", "db", "sql", "cgi-bin", "portal", "manage", "root", "home"}

// TestScannerDoesNotTeach: a scanner walking a word list under a fixed
// resource gets 404s; those words are no evidence that the position holds
// values, so the real endpoints beside them stay literal. The same walk
// answered with 200 does teach the position (the rule rests on the status).
func TestScannerDoesNotTeach(t *testing.T) {
	real := []string{"orders", "customers", "invoices", "products", "refunds"}
	tests := []struct {
		name       string
		scanStatus int
		scanFirst  bool
		learnt     bool
	}{
		{"404 scan first", 404, true, false},
		{"404 scan amid traffic", 404, false, false},
		{"401 scan (gateway before routing)", 401, true, false},
		{"scan answered 200 is data", 200, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, Options{})
			i := 0
			obs := func(target string, status int) {
				i++
				e.Observe(tx(i, "GET", "h", target, status))
			}
			scan := func() {
				for _, w := range scanWords {
					obs("/api/"+w, tc.scanStatus)
				}
			}
			if tc.scanFirst {
				scan()
			}
			for k := range 500 {
				obs("/api/"+real[k%len(real)], 200)
				if k == 250 && !tc.scanFirst {
					scan()
				}
			}
			got := templates(e.Report(), "h")
			var params []string
			for _, g := range got {
				if strings.Contains(g, "{") {
					params = append(params, g)
				}
			}
			if tc.learnt != (len(params) > 0) {
				t.Errorf("learnt=%v, want %v: %q", len(params) > 0, tc.learnt, got)
			}
			if !tc.learnt {
				for _, r := range real {
					if !slices.Contains(got, "GET /api/"+r) {
						t.Errorf("real endpoint /api/%s lost: %q", r, got)
					}
				}
			}
			var n uint64
			for _, ep := range e.Report().Endpoints {
				n += ep.Count
			}
			if n != uint64(i) {
				t.Errorf("counted %d of %d requests", n, i)
			}
		})
	}
}

// TestProbesThenValues: a user namespace first probed (404s) is learnt
// once served users keep arriving, a quarter of them unknown (404), and
// the probed words end under the learnt template too.
func TestProbesThenValues(t *testing.T) {
	e := mustEngine(t, Options{})
	r := rand.New(rand.NewPCG(9, 9))
	for k := range 60 {
		e.Observe(tx(k, "GET", "h", "/users/"+word(r)+fmt.Sprint(k%7)+"/profile", 404))
	}
	for k := range 200 {
		status := 200
		if k%4 == 0 {
			status = 404
		}
		e.Observe(tx(100+k, "GET", "h", "/users/"+word(r)+"/profile", status))
	}
	rep := e.Report()
	if got := templates(rep, "h"); !slices.Equal(got, []string{"GET /users/{userId}/profile"}) {
		t.Errorf("templates %q", got)
	} else if rep.Endpoints[0].Count != 260 {
		t.Errorf("count %d, want 260", rep.Endpoints[0].Count)
	}
}

// TestFixedSubresourcesUnderLearntParents: GitHub-style repositories have
// dozens of fixed subresources under /repos/{owner}/{repo}; when the owner
// and repo positions are learnt and their children merged, the merged
// subresource position must keep its hit history and stay literal.
func TestFixedSubresourcesUnderLearntParents(t *testing.T) {
	subs := []string{"issues", "pulls", "commits", "branches", "tags", "releases", "contributors", "languages", "teams", "topics",
		"forks", "stargazers", "subscribers", "collaborators", "comments", "contents", "deployments", "downloads", "events", "hooks",
		"invitations", "keys", "labels", "milestones", "notifications", "pages", "projects", "readme", "stats", "statuses",
		"traffic", "vulnerability-alerts", "actions", "environments", "dependabot", "codespaces", "check-runs", "check-suites", "compare", "dispatches"}
	for seed := range uint64(5) {
		e := mustEngine(t, Options{})
		r := rand.New(rand.NewPCG(seed, 6))
		for i := range 3000 {
			e.Observe(tx(i, "GET", "h", "/repos/"+word(r)+"/"+word(r)+"/"+subs[r.IntN(len(subs))], 200))
		}
		got := templates(e.Report(), "h")
		if len(got) != len(subs) || !slices.Contains(got, "GET /repos/{repoId}/{id}/vulnerability-alerts") {
			t.Errorf("seed %d: %d templates, want %d literal subresources: %q", seed, len(got), len(subs), got[:min(4, len(got))])
		}
	}
}

// TestProbeSprayLeavesRoomForEndpoints: a scanner spraying random words
// (answered 404) may take half of a host's template budget only; real
// endpoints that appear afterwards still get templates of their own.
func TestProbeSprayLeavesRoomForEndpoints(t *testing.T) {
	e := mustEngine(t, Options{MaxTemplatesPerHost: 100})
	r := rand.New(rand.NewPCG(3, 3))
	i := 0
	for range 5000 {
		i++
		e.Observe(tx(i, "GET", "h", "/"+word(r)+"/"+word(r), 404))
	}
	real := []string{"/v1/orders", "/v1/customers", "/v1/invoices", "/health", "/v2/orders/{orderId}/items"}
	for k := range 500 {
		i++
		p := real[k%len(real)]
		p = strings.Replace(p, "{orderId}", fmt.Sprint(1000+k), 1)
		e.Observe(tx(i, "POST", "h", p, 200))
	}
	got := templates(e.Report(), "h")
	for _, p := range real {
		if !slices.Contains(got, "POST "+p) {
			t.Errorf("real endpoint %s has no template of its own", p)
		}
	}
	var n uint64
	for _, ep := range e.Report().Endpoints {
		n += ep.Count
	}
	if n != uint64(i) {
		t.Errorf("counted %d of %d requests", n, i)
	}
}
