package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/shadowtap/shadowtap/"

// forbidden lists, per top-level folder, the folders it must never import
// (../shared/design.md, "Never").
var forbidden = map[string][]string{
	"capture":    {"reassembly", "detect", "storage", "bpf", "cmd"},
	"reassembly": {"detect", "storage", "bpf", "cmd"},
	"detect":     {"capture", "bpf", "storage", "cmd"},
	"storage":    {"capture", "reassembly", "bpf", "cmd"},
	"bpf":        {"detect", "storage", "cmd"},
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// packageDirs returns every folder under root holding non-test Go files.
func packageDirs(t *testing.T, root string) map[string][]string {
	t.Helper()
	dirs := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			dirs[filepath.ToSlash(rel)] = append(dirs[filepath.ToSlash(rel)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestImportRules(t *testing.T) {
	root := repoRoot(t)
	fset := token.NewFileSet()
	for dir, files := range packageDirs(t, root) {
		top := strings.SplitN(dir, "/", 2)[0]
		bans := forbidden[top]
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatalf("parsing %s: %v", f, err)
			}
			for _, imp := range af.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				if !strings.HasPrefix(path, module) {
					continue
				}
				target := strings.SplitN(strings.TrimPrefix(path, module), "/", 2)[0]
				for _, b := range bans {
					if target == b {
						t.Errorf("%s imports %s: %s must never import %s (design.md)", f, path, top, b)
					}
				}
			}
		}
	}
}

func TestEveryPackageHasDocGo(t *testing.T) {
	root := repoRoot(t)
	for dir, files := range packageDirs(t, root) {
		hasNonTest := false
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				hasNonTest = true
			}
		}
		if !hasNonTest || dir == "." {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, dir, "doc.go"))
		if err != nil {
			t.Errorf("package %s has no doc.go (style.md, convention 1)", dir)
			continue
		}
		if !strings.Contains(string(b), "// Package ") && !strings.Contains(string(b), "// Command ") {
			t.Errorf("%s/doc.go does not state the package's job in a '// Package' comment", dir)
		}
	}
}
