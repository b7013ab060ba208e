// Package rooms holds the test that keeps each package in its room
// (DESIGN.md §2): which packages may import database/sql, gonum, os/exec
// and one another. It has no code of its own.
package rooms

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/lorasweep/lorasweep"

// listed is what `go list -json` says of one package.
type listed struct {
	ImportPath string
	Imports    []string // of its non-test files
}

// rule forbids an import to the packages it applies to.
type rule struct {
	why     string
	applies func(pkg string) bool
	forbids func(imp string) bool
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
}

func not(f func(string) bool) func(string) bool { return func(s string) bool { return !f(s) } }

func anyOf(fs ...func(string) bool) func(string) bool {
	return func(s string) bool {
		for _, f := range fs {
			if f(s) {
				return true
			}
		}
		return false
	}
}

var (
	storage  = under("storage")
	reports  = under("reports")
	cmd      = under("cmd")
	kohya    = under("kohya")
	internal = under("internal")
	proc     = under("internal/proc")
	bench    = under("bench")
	runner   = under("runner")
	objectiv = under("objective")
	sweep    = under("sweep")
	project  = func(p string) bool { return true }
)

var rules = []rule{
	{"database/sql lives only in storage", not(storage), func(i string) bool { return i == "database/sql" }},
	{"gonum/plot lives only in reports", not(reports), func(i string) bool { return strings.HasPrefix(i, "gonum.org/") }},
	{"os/exec lives only in internal/proc (and the bench harness)", not(anyOf(proc, bench)), func(i string) bool { return i == "os/exec" }},
	{"nothing imports the CLI", project, func(i string) bool { return cmd(rel(i)) && strings.HasPrefix(i, module) }},
	{"kohya is a leaf: it knows nothing of the rest of the project", kohya, func(i string) bool { return strings.HasPrefix(i, module) }},
	{"internal/* are leaves: they import only each other", internal, func(i string) bool { return strings.HasPrefix(i, module) && !internal(rel(i)) }},
	{"runner and objective know nothing of studies, storage or reports", anyOf(runner, objectiv),
		func(i string) bool { return strings.HasPrefix(i, module) && anyOf(sweep, storage, reports)(rel(i)) }},
	{"sweep does not reach into storage or reports", sweep,
		func(i string) bool { return strings.HasPrefix(i, module) && anyOf(storage, reports)(rel(i)) }},
	{"storage and reports point at sweep, not at each other", storage,
		func(i string) bool { return strings.HasPrefix(i, module) && reports(rel(i)) }},
}

// rel is an import path relative to the module ("" outside it).
func rel(imp string) string {
	if imp == module {
		return "."
	}
	return strings.TrimPrefix(imp, module+"/")
}

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		pkg := rel(p.ImportPath)
		for _, imp := range p.Imports {
			for _, r := range rules {
				if r.applies(pkg) && r.forbids(imp) {
					t.Errorf("%s imports %s: %s", pkg, imp, r.why)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list saw %d packages: the test is not looking at the project", n)
	}
}
