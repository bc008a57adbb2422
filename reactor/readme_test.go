package reactor_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestReadmeShowsTheExample: the README's library program is Example, which the tests
// compile, so the snippet cannot drift from the API.
func TestReadmeShowsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "example_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	text := func(n ast.Node) string { return string(src[n.Pos()-1 : n.End()-1]) }
	var want []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			if ts, ok := d.Specs[0].(*ast.TypeSpec); ok && ts.Name.Name == "echo" {
				want = append(want, text(d.Doc)+"\n"+text(d))
			}
		case *ast.FuncDecl:
			switch {
			case d.Recv != nil && text(d.Recv.List[0].Type) == "echo":
				want = append(want, text(d))
			case d.Name.Name == "Example":
				want = append(want, "func main() "+text(d.Body))
			}
		}
	}
	if len(want) != 3 {
		t.Fatalf("found %d of the 3 pieces (echo, its OnData, Example) in example_test.go", len(want))
	}
	for _, w := range want {
		if !strings.Contains(string(readme), w) {
			t.Errorf("README.md lacks, as example_test.go has it:\n%s", w)
		}
	}
}
