package acsidentity

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocListsEveryError keeps the package doc's Errors section complete:
// every exported error variable and error type is named in doc.go.
func TestDocListsEveryError(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch sp := spec.(type) {
				case *ast.ValueSpec:
					for _, n := range sp.Names {
						if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
							names = append(names, n.Name)
						}
					}
				case *ast.TypeSpec:
					if sp.Name.IsExported() && strings.HasSuffix(sp.Name.Name, "Error") {
						names = append(names, sp.Name.Name)
					}
				}
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %v; is the parser looking in the right place?", names)
	}
	for _, n := range names {
		if !strings.Contains(string(doc), " "+n) && !strings.Contains(string(doc), "*"+n) {
			t.Errorf("doc.go does not mention %s", n)
		}
	}
}
