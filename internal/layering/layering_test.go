package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

const module = "github.com/distill-ml/distill"

// layers ranks the tree bottom-up, by path prefix (the longest prefix wins).
// A non-test file may import a package of a lower layer or of its own layer,
// never one above it. The same table is written in docs/ARCHITECTURE.md.
var layers = []struct {
	prefix string
	rank   int
}{
	{"internal/atomicfile", 0}, {"internal/cpuinfo", 0}, {"internal/progress", 0}, {"internal/testpeers", 0}, {"internal/layering", 0}, {"internal/sysmem", 0},
	{"configs", 0},
	{"num", 1},
	{"format", 2},
	{"data", 3}, {"data/chattemplate", 3},
	{"loss", 4}, {"optim", 4},
	{"model", 5},
	{"export", 6}, {"internal/testmodel", 6},
	{"distill", 7},
	{"bench", 8}, {"cmd", 8},
}

// rankOf returns the layer of a module-relative package path, or -1 when no
// prefix claims it.
func rankOf(pkg string) int {
	best, rank := -1, -1
	for _, l := range layers {
		if (pkg == l.prefix || strings.HasPrefix(pkg, l.prefix+"/")) && len(l.prefix) > best {
			best, rank = len(l.prefix), l.rank
		}
	}
	return rank
}

func TestRankOf(t *testing.T) {
	for pkg, want := range map[string]int{
		"num/f16": 1, "format/gguf": 2, "data/chattemplate": 3, "model/infer": 5, "internal/testmodel": 6, "internal/atomicfile": 0,
		"distill/collect/teacher": 7, "distill/onpolicy": 7, "cmd/distill": 8, "numbers": -1, "internal/other": -1,
	} {
		if got := rankOf(pkg); got != want {
			t.Errorf("rankOf(%q) = %d, want %d", pkg, got, want)
		}
	}
}

// scan parses every non-test Go file under root (a module tree) and returns
// each import of a higher layer, and each package no layer claims.
func scan(root string) (problems []string, files int, err error) {
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "runs" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		own := rankOf(pkg)
		if own < 0 {
			problems = append(problems, pkg+": no layer claims this package (add it to the table here and in docs/ARCHITECTURE.md)")
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil || !strings.HasPrefix(p, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(p, module+"/")
			if r := rankOf(dep); r > own {
				name, _ := filepath.Rel(root, path)
				problems = append(problems, filepath.ToSlash(name)+": imports "+dep+" (layer "+strconv.Itoa(r)+") from layer "+strconv.Itoa(own))
			}
		}
		return nil
	})
	sort.Strings(problems)
	return dedupe(problems), files, err
}

// TestImportsPointDown checks the whole module.
func TestImportsPointDown(t *testing.T) {
	root := testpeers.RepoRoot(t)
	problems, files, err := scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("parsed only %d files under %s: is the root right?", files, root)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestScanFlagsUpwardImports runs the scan on a made-up tree with one upward
// import, one downward import and one unclaimed package.
func TestScanFlagsUpwardImports(t *testing.T) {
	root := t.TempDir()
	write := func(rel, src string) {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("model/student/s.go", "package student\nimport _ \""+module+"/distill/train\"\nimport _ \""+module+"/num/f16\"\n")
	write("num/f16/f.go", "package f16\n")
	write("num/f16/f_test.go", "package f16\nimport _ \""+module+"/cmd/distill\"\n")
	write("misc/m.go", "package misc\n")
	problems, files, err := scan(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"misc: no layer claims this package (add it to the table here and in docs/ARCHITECTURE.md)",
		"model/student/s.go: imports distill/train (layer 7) from layer 5",
	}
	if files != 2 || strings.Join(problems, "\n") != strings.Join(want, "\n") {
		t.Fatalf("scan found %d files, problems:\n%s\nwant 2 files and:\n%s", files, strings.Join(problems, "\n"), strings.Join(want, "\n"))
	}
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
