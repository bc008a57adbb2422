package kv_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// guideSources are the files docs/guide.md quotes, relative to this module's root.
var guideSources = []string{
	"examples/kv/kv.go",
	"examples/kv/idle.go",
	"examples/kv/kv_test.go",
	"examples/kv/backends_test.go",
	"examples/kv/example_test.go",
	"reactor/example_test.go",
}

// goBlock is a fenced Go snippet in Markdown.
var goBlock = regexp.MustCompile("(?s)```go\n(.*?)```")

// TestGuideQuotesCompiledCode: every Go snippet in docs/guide.md is a verbatim excerpt of a
// compiled, tested file (a line holding only "…" marks an elision), so the guide cannot drift
// from the API or from the code it walks through.
func TestGuideQuotesCompiledCode(t *testing.T) {
	root := moduleRoot(t)
	guide, err := os.ReadFile(filepath.Join(root, "docs", "guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, name := range guideSources {
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(src))
	}
	blocks := goBlock.FindAllStringSubmatch(string(guide), -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d Go snippets in docs/guide.md; want the walk-through's 10 or more", len(blocks))
	}
	for _, b := range blocks {
		for _, piece := range regexp.MustCompile(`(?m)^\s*…\s*$`).Split(b[1], -1) {
			piece = strings.Trim(piece, "\n")
			if piece == "" {
				continue
			}
			found := false
			for _, src := range sources {
				found = found || strings.Contains(src, piece)
			}
			if !found {
				t.Errorf("docs/guide.md quotes code found in none of %v:\n%s", guideSources, piece)
			}
		}
	}
}
