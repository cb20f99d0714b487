package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/pipeline"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
)

// The README's claims that are code: each is checked against the code or
// the embedded quickstart, so the README cannot drift from what distill does
// (issue 17, item 9).

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testpeers.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// quickstartConfig is the embedded quickstart pipeline with its stages by name.
func quickstartConfig(t *testing.T) (*pipeline.Config, map[string][]string) {
	t.Helper()
	var cfg pipeline.Config
	if err := configs.Load("quickstart", &cfg); err != nil {
		t.Fatal(err)
	}
	stages, err := cfg.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string][]string{}
	for _, s := range stages {
		args[s.Name] = s.Params.([]string)
	}
	return &cfg, args
}

// The README's list of GGUF types is every type `distill export/quantize
// --type` accepts, no more and no fewer; every `--type` in its commands is
// accepted.
func TestReadmeQuantizeTypesAreTheAcceptedOnes(t *testing.T) {
	text := readme(t)
	m := regexp.MustCompile(`(?s)\*\*Quantize and export\*\*\s+GGUF \(([^)]*)\)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("README has no '**Quantize and export** GGUF (…)' list of types")
	}
	var listed []string
	for _, w := range regexp.MustCompile(`\b(?:F32|F16|Q\d_\d|Q\d_K(?:_[SM])?|IQ4_(?:NL|XS))\b`).FindAllString(m[1], -1) {
		listed = append(listed, strings.ToLower(w))
	}
	accepted := quant.FileTypeNames()
	for _, a := range accepted {
		if !slices.Contains(listed, a) {
			t.Errorf("README's type list (%s) omits %s, which --type accepts", strings.Join(listed, ", "), strings.ToUpper(a))
		}
	}
	for _, l := range listed {
		if !slices.Contains(accepted, l) {
			t.Errorf("README lists %s, which --type does not accept (%s)", strings.ToUpper(l), strings.Join(accepted, ", "))
		}
	}
	cmds, _ := docCommands(t, filepath.Join(testpeers.RepoRoot(t), "README.md"))
	for _, c := range cmds {
		for i := 0; i+1 < len(c); i++ {
			if c[i] == "--type" {
				if _, err := quant.ParseFileType(c[i+1]); err != nil {
					t.Errorf("README: distill %s: %v", strings.Join(c, " "), err)
				}
			}
		}
	}
}

// Numbers the README quotes about the quickstart are the embedded
// quickstart's: its stage count, teacher and student updates, labelled
// fraction, golden questions and the types it quantizes to.
func TestReadmeQuickstartNumbersMatchTheConfig(t *testing.T) {
	text := readme(t)
	cfg, args := quickstartConfig(t)
	param := func(name string) int {
		v, err := strconv.ParseFloat(cfg.Params[name], 64)
		if err != nil {
			t.Fatalf("quickstart params.%s = %q: %v", name, cfg.Params[name], err)
		}
		if name == "labeled_fraction" {
			return int(v*100 + 0.5)
		}
		return int(v)
	}
	claims := []struct {
		re   string // one group: the number
		want int
		what string
	}{
		{`\d+ s for the (\d+) stages`, len(cfg.Stages), "stages"},
		{`(\d+) teacher updates`, param("teacher_steps"), "params.teacher_steps"},
		{`(\d+) (?:updates )?per student`, param("student_steps"), "params.student_steps"},
		{`(\d+) student updates`, param("student_steps"), "params.student_steps"},
		{`(?:keeps a fixed|same) (\d+)% of the labelled rows`, param("labeled_fraction"), "params.labeled_fraction"},
		{`paired over (\d+) golden questions`, param("golden_items"), "params.golden_items"},
	}
	flat := strings.Join(strings.Fields(text), " ")
	matched := 0
	for _, c := range claims {
		for _, m := range regexp.MustCompile(c.re).FindAllStringSubmatch(flat, -1) {
			matched++
			if n, _ := strconv.Atoi(m[1]); n != c.want {
				t.Errorf("README says %q; configs/quickstart.yaml has %s = %d", m[0], c.what, c.want)
			}
		}
	}
	if matched == 0 {
		t.Error("README quotes none of the quickstart's numbers this test knows; update the patterns with the README")
	}
	// "quantizes to q8_0 / q4_k_m / q4_0": the quickstart's quantize stages.
	m := regexp.MustCompile(`quantizes to ((?:[a-z0-9_]+\s*/\s*)*[a-z0-9_]+)`).FindStringSubmatch(flat)
	if m == nil {
		t.Fatal("README does not say which types the quickstart quantizes to")
	}
	var said []string
	for _, s := range strings.Split(m[1], "/") {
		said = append(said, strings.TrimSpace(s))
	}
	var staged []string
	for _, a := range args {
		if i := slices.Index(a, "--type"); a[0] == "quantize" && i > 0 && i+1 < len(a) {
			staged = append(staged, a[i+1])
		}
	}
	slices.Sort(said)
	slices.Sort(staged)
	if !slices.Equal(said, staged) {
		t.Errorf("README: the quickstart quantizes to %v; configs/quickstart.yaml quantizes to %v", said, staged)
	}
}

// The tour runs bare `distill` commands: the README must say how to get
// distill on PATH, and that the first `go run` compiles for minutes.
func TestReadmeSaysHowToGetDistillOnPath(t *testing.T) {
	text := readme(t)
	if !strings.Contains(text, "go install ./cmd/distill") {
		t.Error("README's tour runs `distill …` but never says `go install ./cmd/distill` (and that it lands in $(go env GOPATH)/bin)")
	}
	if !regexp.MustCompile(`(?i)compil\w+[^.]*(minutes|cold)|(minutes|cold)[^.]*compil`).MatchString(text) {
		t.Error("README does not warn that the first `go run`/`go build` compiles for minutes on a cold cache")
	}
}
