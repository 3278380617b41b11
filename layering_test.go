package gemmatool

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const modulePath = "github.com/gemmatool/gemmatool"

// allowed lists, per package directory, the internal packages it may import (STYLE.md:
// imports point down). Packages not listed may import nothing internal.
var allowed = map[string][]string{
	"cmd/gemmatool":     {"*"},
	"convert":           {"runtime", "runtime/kernel", "runtime/tokenizer", "runtime/imageproc", "format", ""},
	"quantize":          {"runtime", "runtime/kernel", "format"},
	"verify":            {"runtime", "runtime/kernel", "runtime/tokenizer", "format"},
	"runtime":           {"runtime/kernel", "runtime/tokenizer", "runtime/imageproc", "runtime/vision", "format"},
	"runtime/vision":    {"runtime/kernel", "format"},
	"runtime/kernel":    {"format"},
	"runtime/tokenizer": {},
	"runtime/imageproc": {},
	"format":            {},
	"format/gguf":       {"format"},
	"convert/llamacpp":  {"convert", "format", "format/gguf", "runtime/tokenizer"},
	"internal/testutil": {"*"},
	"":                  {},
}

func TestLayering(t *testing.T) {
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
}
