package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// GateKey is the key of one gate check in the manifest's thresholds and
// measured maps: "route.name" (e.g. "policy.quality_drop").
func GateKey(route, name string) string { return route + "." + name }

// gateReport is the part of the gate's gate.json that CheckGate reads (the
// gate package owns the full format; it imports this one).
type gateReport struct {
	Artifacts []struct {
		Name      string `json:"name"`
		Baseline  bool   `json:"baseline"`
		Reference bool   `json:"reference"`
		Approved  bool   `json:"approved"`
		Footprint struct {
			FileBytes int64 `json:"file_bytes"`
		} `json:"footprint"`
		Checks []struct {
			Route string  `json:"route"`
			Name  string  `json:"name"`
			Value float64 `json:"value"`
			Limit float64 `json:"limit"`
			Pass  bool    `json:"pass"`
		} `json:"checks"`
	} `json:"artifacts"`
	Approved []string `json:"approved"`
}

// CheckGate cross-checks the manifest's gate section against the gate
// report it lists (gate.report, whose hash the manifest carries; run Verify
// or VerifySigned on dir first): the report must approve the artifact the
// manifest names (gate.artifact), every one of its checks must pass with the
// same value and limit the manifest records (and no others), and the model
// file must have the size the gate measured. A manifest hand-edited to say
// approved fails here unless gate.json is forged consistently too, which
// only a signature check catches.
func CheckGate(dir string, m *Manifest) error {
	g := m.Gate
	if !g.Approved {
		return fmt.Errorf("gate check %s: the gate did not approve this artifact", m.ID())
	}
	if g.Report == "" || g.Artifact == "" {
		return fmt.Errorf("gate check %s: the manifest names no gate report and artifact (gate.report, gate.artifact); releases come from `distill gate`", m.ID())
	}
	path := filepath.Join(dir, filepath.FromSlash(g.Report))
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("gate check %s: %w", m.ID(), err)
	}
	var rep gateReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("gate check %s: %s: %w", m.ID(), g.Report, err)
	}
	found := -1
	for i, a := range rep.Artifacts {
		if a.Name == g.Artifact {
			if found >= 0 {
				return fmt.Errorf("gate check %s: %s lists artifact %q twice", m.ID(), g.Report, g.Artifact)
			}
			found = i
		}
	}
	if found < 0 {
		return fmt.Errorf("gate check %s: %s has no artifact %q", m.ID(), g.Report, g.Artifact)
	}
	a := rep.Artifacts[found]
	var problems []string
	listed := false
	for _, name := range rep.Approved {
		listed = listed || name == a.Name
	}
	if !a.Approved || !listed || a.Baseline || a.Reference {
		problems = append(problems, fmt.Sprintf("%s does not approve %q (approved %v, in approved list %v, baseline %v, reference %v)",
			g.Report, a.Name, a.Approved, listed, a.Baseline, a.Reference))
	}
	seen := map[string]bool{}
	for _, c := range a.Checks {
		key := GateKey(c.Route, c.Name)
		seen[key] = true
		if !c.Pass {
			problems = append(problems, fmt.Sprintf("%s: check %s failed (%v against %v) yet the artifact is approved", g.Report, key, c.Value, c.Limit))
		}
		if v, ok := g.Measured[key]; !ok || v != c.Value {
			problems = append(problems, fmt.Sprintf("measured %s: manifest %s, %s %v", key, mapValue(g.Measured, key), g.Report, c.Value))
		}
		if v, ok := g.Thresholds[key]; !ok || v != c.Limit {
			problems = append(problems, fmt.Sprintf("threshold %s: manifest %s, %s %v", key, mapValue(g.Thresholds, key), g.Report, c.Limit))
		}
	}
	for _, k := range unionKeys(g.Measured, g.Thresholds) {
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("manifest gate key %s: no such check in %s", k, g.Report))
		}
	}
	if fb := a.Footprint.FileBytes; fb > 0 {
		for _, f := range m.Files {
			if f.Path == m.Model.File && f.Size != fb {
				problems = append(problems, fmt.Sprintf("model %s is %d bytes, the gate measured footprint.file_bytes %d", f.Path, f.Size, fb))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("gate check %s: manifest.json and %s disagree: %w", m.ID(), g.Report, errors.New(strings.Join(problems, "; ")))
	}
	return nil
}

func mapValue(m map[string]float64, k string) string {
	if v, ok := m[k]; ok {
		return fmt.Sprint(v)
	}
	return "(missing)"
}

func unionKeys(ms ...map[string]float64) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
