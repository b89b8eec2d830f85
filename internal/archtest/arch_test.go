// Package archtest checks the architecture rules of the tree: which
// packages may import which, where the UI libraries may be used, and that
// only pkg/clock contains calls that write the system clock.
package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ntpkit/ntpkit/internal/testenv"
)

const module = "github.com/ntpkit/ntpkit"

type goPackage struct {
	ImportPath     string
	Dir            string
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string
	TestGoFiles    []string
	XTestGoFiles   []string
	Imports        []string
	TestImports    []string
	XTestImports   []string
	Error          *struct{ Err string }
}

// rel is the package path inside the module ("query", "pkg/ntp", "").
func (p *goPackage) rel() string {
	return strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
}

var listed struct {
	once sync.Once
	pkgs []*goPackage
	err  error
}

// listPackages runs `go list -json ./...` once per test binary.
func listPackages(t *testing.T) []*goPackage {
	t.Helper()
	listed.once.Do(func() { listed.pkgs, listed.err = goList() })
	if listed.err != nil {
		t.Fatal(listed.err)
	}
	return listed.pkgs
}

func goList() ([]*goPackage, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []*goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(goPackage)
		if err := dec.Decode(p); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("go list found no packages")
	}
	return pkgs, nil
}

// layer is the top-level area of a module package: pkg, mode6, query,
// sync, daemon, cmd, internal, or "" for the root.
func layer(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	return top
}

// within reports whether path is the module area or below it.
func within(path, area string) bool {
	rel, ok := strings.CutPrefix(path, module+"/")
	return ok && layer(rel) == area
}

// uiModules may be imported only under cmd/.
var uiModules = []string{
	"github.com/spf13/cobra",
	"github.com/olekukonko/tablewriter",
	"github.com/fatih/color",
}

func TestUIImportsOnlyInCmd(t *testing.T) {
	for _, p := range listPackages(t) {
		if layer(p.rel()) == "cmd" {
			continue
		}
		all := append(append(append([]string(nil), p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			for _, ui := range uiModules {
				if imp == ui || strings.HasPrefix(imp, ui+"/") {
					t.Errorf("%s imports %s: UI libraries belong in cmd/", p.ImportPath, imp)
				}
			}
		}
	}
}

// forbidden lists, per area, the module areas its (non-test) code must not
// import. Imports flow pkg <- mode6 <- query; pkg <- sync <- daemon;
// daemon -> mode6; and no library imports cmd/.
var forbidden = map[string][]string{
	"pkg":    {"mode6", "query", "sync", "daemon", "cmd"},
	"mode6":  {"query", "daemon", "sync", "cmd"},
	"query":  {"daemon", "sync", "cmd"},
	"sync":   {"daemon", "mode6", "query", "cmd"},
	"daemon": {"cmd"},
}

func TestImportDirection(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range listPackages(t) {
		if p.Error != nil {
			t.Logf("%s: %s (package being written? checked as far as go list got)", p.ImportPath, p.Error.Err)
		}
		area := layer(p.rel())
		seen[area] = true
		for _, imp := range p.Imports {
			for _, bad := range forbidden[area] {
				if within(imp, bad) {
					t.Errorf("%s imports %s: %s must not import %s/", p.ImportPath, imp, area, bad)
				}
			}
		}
	}
	if !seen["pkg"] || !seen["cmd"] {
		t.Errorf("go list did not see pkg/ and cmd/: %v", seen)
	}
}

// clockWriters are the calls that set, step, slew or discipline the system
// clock. Outside pkg/clock none may appear in non-test code.
var clockWriters = map[string]bool{
	"ClockSettime": true, "Settimeofday": true, "Adjtimex": true, "ClockAdjtime": true,
	"Stime":             true,
	"SYS_CLOCK_SETTIME": true, "SYS_SETTIMEOFDAY": true, "SYS_ADJTIMEX": true, "SYS_CLOCK_ADJTIME": true,
}

// syscallPackages are the packages through which those calls are made.
var syscallPackages = map[string]bool{"syscall": true, "golang.org/x/sys/unix": true}

// clockWriteSites parses a Go file and returns "file:line name" for every
// reference to a clock-writing function of syscall or x/sys/unix.
func clockWriteSites(fset *token.FileSet, path string, src any) ([]string, error) {
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{} // local names of syscall packages
	for _, imp := range f.Imports {
		ip, _ := strconv.Unquote(imp.Path.Value)
		if !syscallPackages[ip] {
			continue
		}
		switch {
		case imp.Name == nil:
			names[filepath.Base(ip)] = true
		case imp.Name.Name == ".":
			return []string{fmt.Sprintf("%s: dot-import of %s hides clock calls", path, ip)}, nil
		default:
			names[imp.Name.Name] = true
		}
	}
	var sites []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] && clockWriters[sel.Sel.Name] {
			sites = append(sites, fmt.Sprintf("%s %s.%s", fset.Position(sel.Pos()), id.Name, sel.Sel.Name))
		}
		return true
	})
	return sites, nil
}

func TestClockWritesOnlyInPkgClock(t *testing.T) {
	fset := token.NewFileSet()
	found := 0
	for _, p := range listPackages(t) {
		var files []string
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.IgnoredGoFiles} {
			for _, f := range list {
				if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") {
					files = append(files, filepath.Join(p.Dir, f))
				}
			}
		}
		sort.Strings(files)
		for _, f := range files {
			sites, err := clockWriteSites(fset, f, nil)
			if err != nil {
				t.Errorf("parse %s: %v", f, err)
				continue
			}
			if p.rel() == "pkg/clock" {
				found += len(sites)
				continue
			}
			for _, s := range sites {
				t.Errorf("%s: clock-writing call outside pkg/clock", s)
			}
		}
	}
	if found == 0 {
		t.Error("no clock-writing call found in pkg/clock: is the check still looking at the right names?")
	}
}

// The detector itself, on small sources.
func TestClockWriteSites(t *testing.T) {
	tests := []struct {
		name, src string
		want      int
	}{
		{"unix", `package p; import "golang.org/x/sys/unix"; func f() { unix.ClockAdjtime(0, nil) }`, 1},
		{"alias", `package p; import u "golang.org/x/sys/unix"; func f() { u.Settimeofday(nil); u.Adjtimex(nil) }`, 2},
		{"syscall", `package p; import "syscall"; func f() { syscall.Syscall(syscall.SYS_CLOCK_SETTIME, 0, 0, 0) }`, 1},
		{"read only", `package p; import "golang.org/x/sys/unix"; func f() { unix.ClockGettime(0, nil) }`, 0},
		{"comment", `package p; // unix.ClockSettime is not called here
import "golang.org/x/sys/unix"; var _ = unix.Getpid`, 0},
		{"other package", `package p; import "example.com/unix"; func f() { unix.ClockSettime() }`, 0},
		{"dot import", `package p; import . "syscall"; func f() { Settimeofday(nil) }`, 1},
	}
	for _, tc := range tests {
		sites, err := clockWriteSites(token.NewFileSet(), tc.name+".go", tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(sites) != tc.want {
			t.Errorf("%s: found %v, want %d sites", tc.name, sites, tc.want)
		}
	}
}
