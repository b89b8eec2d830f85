package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every fuzz target has a committed seed corpus in
// testdata/fuzz/FuzzXxx/ beside it, so `go test` replays the seeds and
// `make fuzz` starts from them.
func TestFuzzTargetsHaveSeeds(t *testing.T) {
	fset := token.NewFileSet()
	targets := 0
	for _, p := range listPackages(t) {
		for _, name := range append(append([]string(nil), p.TestGoFiles...), p.XTestGoFiles...) {
			path := filepath.Join(p.Dir, name)
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Errorf("parse %s: %v", path, err)
				continue
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Recv != nil || !isFuzzTarget(fn) {
					continue
				}
				targets++
				dir := filepath.Join(p.Dir, "testdata", "fuzz", fn.Name.Name)
				entries, err := os.ReadDir(dir)
				if err != nil || len(entries) == 0 {
					t.Errorf("%s: %s has no seed corpus in %s", fset.Position(fn.Pos()), fn.Name.Name, dir)
				}
			}
		}
	}
	if targets == 0 {
		t.Error("no fuzz targets found")
	}
}

// isFuzzTarget: func FuzzXxx(f *testing.F).
func isFuzzTarget(fn *ast.FuncDecl) bool {
	if !strings.HasPrefix(fn.Name.Name, "Fuzz") || fn.Type.Params == nil || len(fn.Type.Params.List) != 1 {
		return false
	}
	star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F"
}
