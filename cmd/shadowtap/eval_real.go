package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/detect/eval"
)

// realSpecModule is a Go module whose zip carries real public API
// specifications in test_specs/. Go's module proxy serves it to any machine
// that builds this project, so the eval reads them from the module cache
// without this repository holding third-party files.
const realSpecModule = "github.com/pb33f/libopenapi@v0.42.4"

// errNoRealSpecs is wrapped by realSpecDir when the specs are unavailable.
var errNoRealSpecs = errors.New("real specs unavailable")

// realSpec is one scenario of the real-specs set.
type realSpec struct {
	name, file string
	impair     bool
	days       int
	users      int
}

// realSpecSet spans payment, collaboration, cloud, e-signature, container
// orchestration, security automation and e-commerce APIs; numeric, 16-digit
// gid, UUID/GUID, 24-hex, prefixed base62 and DNS-name ids; header, query
// and bearer credentials; two are impaired. Big specs run one day with
// fewer users.
var realSpecSet = []realSpec{
	{name: "real-stripe", file: "stripe.yaml", days: 1, users: 60},
	{name: "real-asana", file: "asana.yaml", impair: true, days: 2, users: 60},
	{name: "real-digitalocean", file: "digitalocean.yaml", days: 2, users: 60},
	{name: "real-docusign", file: "docusignv3.1.json", days: 1, users: 50},
	{name: "real-k8s", file: "k8s.json", impair: true, days: 1, users: 60},
	{name: "real-xsoar", file: "xsoar.json", days: 2, users: 60},
	{name: "real-petstorev2", file: "petstorev2.json", days: 2, users: 80},
}

func realSpecFiles() []string {
	out := make([]string, len(realSpecSet))
	for i, r := range realSpecSet {
		out[i] = r.file
	}
	return out
}

// realScenarios lists the real-spec scenarios reading their files in dir.
func realScenarios(dir string) []evalScenario {
	out := make([]evalScenario, 0, len(realSpecSet))
	for _, r := range realSpecSet {
		out = append(out, evalScenario{name: r.name, spec: filepath.Join(dir, r.file), impair: r.impair, days: r.days, users: r.users})
	}
	return out
}

// realSpecDir resolves the --real-specs flag: "off" or "" gives "", "auto"
// fetches realSpecModule, anything else is a folder. An error (wrapping
// errNoRealSpecs) says why the set is skipped.
func realSpecDir(flag string) (string, error) {
	var dir string
	switch flag {
	case "", "off":
		return "", nil
	case "auto":
		d, err := fetchRealSpecs()
		if err != nil {
			return "", err
		}
		dir = d
	default:
		dir = flag
	}
	for _, f := range realSpecFiles() {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("%w: %s has no %s", errNoRealSpecs, dir, f)
		}
	}
	return dir, nil
}

// fetchRealSpecs runs `go mod download -json` for realSpecModule in a
// throwaway module (this project's go.mod is not touched) and returns the
// test_specs folder of the extracted module.
func fetchRealSpecs() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: no go command: %v", errNoRealSpecs, err)
	}
	tmp, err := os.MkdirTemp("", "shadowtap-realspecs-")
	if err != nil {
		return "", fmt.Errorf("%w: %v", errNoRealSpecs, err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module shadowtap.invalid/realspecs\n\ngo 1.21\n"), 0o644); err != nil {
		return "", fmt.Errorf("%w: %v", errNoRealSpecs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", realSpecModule)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Error != "" || info.Dir == "" {
		why := strings.TrimSpace(info.Error)
		if why == "" {
			why = strings.TrimSpace(errOut.String())
		}
		if why == "" && runErr != nil {
			why = runErr.Error()
		}
		return "", fmt.Errorf("%w: go mod download %s: %s", errNoRealSpecs, realSpecModule, firstLine(why))
	}
	return filepath.Join(info.Dir, "test_specs"), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Acceptance thresholds of the real-specs set (issue 4).
const (
	realMinTemplates = 0.98
	realMinShadow    = 0.95
)

// realTotals sums the results of the real-spec scenarios; n is how many.
func realTotals(scored []eval.Scenario) (tot eval.Result, n int) {
	for _, s := range scored {
		if !strings.HasPrefix(s.Name, "real-") {
			continue
		}
		n++
		tot.Templates = tot.Templates.Add(s.Result.Templates)
		tot.Shadow = tot.Shadow.Add(s.Result.Shadow)
		tot.Unseen = tot.Unseen.Add(s.Result.Unseen)
		tot.ConcreteIDPaths += s.Result.ConcreteIDPaths
	}
	return tot, n
}

// realFailures lists the acceptance thresholds the real-spec totals miss.
func realFailures(tot eval.Result) []string {
	var out []string
	check := func(name string, pr eval.PR, min float64) {
		if p, ok := pr.Precision(); !ok || p < min {
			out = append(out, fmt.Sprintf("%s precision %.3f < %.2f", name, p, min))
		}
		if r, ok := pr.Recall(); !ok || r < min {
			out = append(out, fmt.Sprintf("%s recall %.3f < %.2f", name, r, min))
		}
	}
	check("templates", tot.Templates, realMinTemplates)
	check("shadow", tot.Shadow, realMinShadow)
	check("unseen", tot.Unseen, realMinShadow)
	if tot.ConcreteIDPaths > 0 {
		out = append(out, fmt.Sprintf("%d paths with a concrete id", tot.ConcreteIDPaths))
	}
	return out
}

// realAcceptance is the line summing the real-spec scenarios against the
// thresholds; ok is false when there were none.
func realAcceptance(scored []eval.Scenario) (string, bool) {
	tot, n := realTotals(scored)
	if n == 0 {
		return "", false
	}
	f := func(pr eval.PR) string {
		p, _ := pr.Precision()
		r, _ := pr.Recall()
		return fmt.Sprintf("P %.3f R %.3f", p, r)
	}
	verdict := "met"
	if fails := realFailures(tot); len(fails) > 0 {
		verdict = "NOT met: " + strings.Join(fails, "; ")
	}
	return fmt.Sprintf("REAL scenarios %d templates %s concrete-id %d shadow %s unseen %s acceptance %s",
		n, f(tot.Templates), tot.ConcreteIDPaths, f(tot.Shadow), f(tot.Unseen), verdict), true
}
