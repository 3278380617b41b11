package gemmatool

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const modulePath = "github.com/gemmatool/gemmatool"

// allowed lists, per package directory, the internal packages it imports (STYLE.md: imports
// point down): an import not listed fails the test, and so does a listed edge no package has
// (a new edge is added here in the change that makes it).
var allowed = map[string][]string{
	"cmd/gemmatool":     {"*"},
	"convert":           {"runtime/tokenizer", "runtime/imageproc", "runtime/kernel", "format", ""},
	"quantize":          {"runtime", "runtime/kernel", "runtime/vision", "format", "format/gguf"},
	"verify":            {"runtime", "runtime/kernel", "format"},
	"runtime":           {"runtime/kernel", "runtime/tokenizer", "runtime/imageproc", "runtime/vision", "format"},
	"runtime/vision":    {"runtime/kernel", "format"},
	"runtime/kernel":    {"format"},
	"runtime/tokenizer": {"format"},
	"runtime/imageproc": {},
	"format":            {},
	"format/gguf":       {"format"},
	"convert/llamacpp":  {"convert", "format", "format/gguf", "runtime/tokenizer", "runtime/imageproc"},
	"internal/testutil": {"*"},
	"":                  {},
}

func TestLayering(t *testing.T) {
	used := map[string]bool{} // "pkg -> target" edges that exist
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files
		}
		rel := filepath.ToSlash(path)
		if rel == "." {
			rel = ""
		}
		rules, ok := allowed[rel]
		if !ok {
			t.Errorf("package %q has no layering rule; add it to allowed", rel)
			return nil
		}
		// Test files may build fixtures with any package (convert makes the model files the
		// runtime tests load); the rule is about the libraries themselves.
		for _, imp := range pkg.Imports {
			if imp != modulePath && !strings.HasPrefix(imp, modulePath+"/") {
				continue
			}
			target := strings.TrimPrefix(strings.TrimPrefix(imp, modulePath), "/")
			if target == rel {
				continue
			}
			used[rel+" -> "+target] = true
			okEdge := false
			for _, r := range rules {
				if r == "*" || r == target {
					okEdge = true
				}
			}
			if !okEdge {
				t.Errorf("package %q imports %q: not allowed by the layering table", rel, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The table lists only edges that exist: a rule nobody uses hides what depends on what.
	for pkg, rules := range allowed {
		for _, r := range rules {
			if r != "*" && !used[pkg+" -> "+r] {
				t.Errorf("layering table: %q may import %q, but does not; remove the rule", pkg, r)
			}
		}
	}
}

// TestBinaryDoesNotLinkTesting checks that the gemmatool command, with everything it imports,
// leaves the testing package out (test helpers belong in _test files or internal/testutil).
func TestBinaryDoesNotLinkTesting(t *testing.T) {
	seen := map[string]bool{}
	var visit func(path string, chain []string)
	visit = func(path string, chain []string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if path == "testing" {
			t.Fatalf("gemmatool links testing via %s", strings.Join(chain, " -> "))
		}
		pkg, err := build.Import(path, ".", 0)
		if err != nil {
			return // cgo-only or unavailable packages of the standard library
		}
		for _, imp := range pkg.Imports {
			visit(imp, append(chain[:len(chain):len(chain)], imp))
		}
	}
	visit(modulePath+"/cmd/gemmatool", []string{"cmd/gemmatool"})
}
