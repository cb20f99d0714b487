package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// externalPackages maps the names of third-party packages that
// docs/ARCHITECTURE.md cites to their import paths.
var externalPackages = map[string]string{
	"gorgonia": "gorgonia.org/gorgonia",
	"blas":     "gonum.org/v1/gonum/blas",
}

var (
	// docPackagePath is a backticked module-relative package path such as
	// `model/infer` (two or more elements; a lone word is not told apart
	// from prose).
	docPackagePath = regexp.MustCompile("^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)+$")
	// docIdentifier is a backticked `pkg.Name`, `pkg.Type.Member` or
	// `pkg.Func()`.
	docIdentifier = regexp.MustCompile(`^([a-z][a-z0-9]*)\.([A-Z]\w*)(?:\.([A-Z]\w*))?(?:\(\))?$`)
	// docTestName is a backticked test function name.
	docTestName = regexp.MustCompile(`^Test[A-Z]\w*$`)
	backticked  = regexp.MustCompile("`([^`\n]+)`")
)

// goDecls are the names a package declares: top-level identifiers, and
// "Type.Member" for methods and struct fields.
type goDecls map[string]bool

// parseDecls parses the package in dir (tests included only when withTests)
// with go/parser and returns its package name and declarations.
func parseDecls(t *testing.T, dir string, withTests bool) (string, goDecls) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	decls, name := goDecls{}, ""
	fset := token.NewFileSet()
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || (!withTests && strings.HasSuffix(n, "_test.go")) {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", filepath.Join(dir, n), err)
		}
		if !strings.HasSuffix(n, "_test.go") {
			name = f.Name.Name
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					decls[d.Name.Name] = true
					continue
				}
				rt := d.Recv.List[0].Type
				if s, ok := rt.(*ast.StarExpr); ok {
					rt = s.X
				}
				switch x := rt.(type) {
				case *ast.IndexExpr:
					rt = x.X
				case *ast.IndexListExpr:
					rt = x.X
				}
				if id, ok := rt.(*ast.Ident); ok {
					decls[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						decls[s.Name.Name] = true
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, f := range st.Fields.List {
								for _, fn := range f.Names {
									decls[s.Name.Name+"."+fn.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							decls[n.Name] = true
						}
					}
				}
			}
		}
	}
	return name, decls
}

// TestArchitectureNamesExist: every backticked package path, `pkg.Name`
// identifier and test name in docs/ARCHITECTURE.md names something that
// exists, so the document cannot keep citing a renamed package or a
// function nobody wrote.
func TestArchitectureNamesExist(t *testing.T) {
	root := testpeers.RepoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The repository's packages by name (several directories may share one)
	// and every test function.
	byName := map[string][]goDecls{}
	tests := map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
			return filepath.SkipDir
		}
		name, decls := parseDecls(t, path, true)
		for k := range decls {
			if docTestName.MatchString(k) {
				tests[k] = true
			}
		}
		if name != "" && name != "main" {
			_, exported := parseDecls(t, path, false)
			byName[name] = append(byName[name], exported)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	external := func(name string) []goDecls {
		path, ok := externalPackages[name]
		if !ok {
			return nil
		}
		out, err := exec.Command("go", "list", "-f", "{{.Dir}}", path).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", path, err)
		}
		_, decls := parseDecls(t, strings.TrimSpace(string(out)), false)
		return []goDecls{decls}
	}

	checked := 0
	for i, line := range strings.Split(string(doc), "\n") {
		for _, m := range backticked.FindAllStringSubmatch(line, -1) {
			s := m[1]
			switch {
			case docPackagePath.MatchString(s):
				checked++
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(s))); err != nil {
					t.Errorf("docs/ARCHITECTURE.md:%d: package %s does not exist", i+1, s)
				} else if name, _ := parseDecls(t, filepath.Join(root, filepath.FromSlash(s)), false); name == "" {
					t.Errorf("docs/ARCHITECTURE.md:%d: %s has no Go package", i+1, s)
				}
			case docIdentifier.MatchString(s):
				checked++
				p := docIdentifier.FindStringSubmatch(s)
				want := p[2]
				if p[3] != "" {
					want += "." + p[3]
				}
				pkgs := byName[p[1]]
				if pkgs == nil {
					pkgs = external(p[1])
				}
				if pkgs == nil {
					t.Errorf("docs/ARCHITECTURE.md:%d: %s: no package %s in the repository (a third-party one goes in externalPackages)", i+1, s, p[1])
					continue
				}
				found := false
				for _, d := range pkgs {
					found = found || d[want]
				}
				if !found {
					t.Errorf("docs/ARCHITECTURE.md:%d: %s: package %s declares no %s", i+1, s, p[1], want)
				}
			case docTestName.MatchString(s):
				checked++
				if !tests[s] {
					t.Errorf("docs/ARCHITECTURE.md:%d: no test function %s", i+1, s)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d names in docs/ARCHITECTURE.md; the patterns no longer match the document", checked)
	}
}
