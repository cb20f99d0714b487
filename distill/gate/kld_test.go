package gate

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKLDAgainstBaselineClosedForm: the scripted models put p on the next
// token and spread 1−p evenly over the other 255, so for baseline p and
// candidate q every position has KL = p·ln(p/q) + (1−p)·ln((1−p)/(1−q)),
// Δp = q − p, the same top token, and PPL ratio p/q; golden completions
// and the held-out text (chunks of 64 bytes, positions 32…62 scored) both
// give those, and the KLD bars approve q8_0 (q 0.89) and reject q4_0 (q 0.8).
func TestKLDAgainstBaselineClosedForm(t *testing.T) {
	dir, paths, clock, eng, its := setup(t)
	text := strings.Repeat("The scanner battery is replaced after 500 charge cycles. ", 12) // 684 bytes: 10 chunks of 64
	textPath := filepath.Join(dir, "heldout.txt")
	if err := os.WriteFile(textPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	r := cfg.Routes["policy"]
	r.Thresholds.MaxQualityDrop = 0.5 // only the KLD bars decide here
	r.Thresholds.MaxKLDP99 = 0.01
	cfg.Routes["policy"] = r
	cfg.HeldOut = HeldOut{Text: textPath, Context: 64, MaxChunks: 8, MinSameTop: 0.99}
	rep, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	kl := func(p, q float64) float64 { return p*math.Log(p/q) + (1-p)*math.Log((1-p)/(1-q)) }
	completionTokens := len(its) * (len(" yes [§1.1]") - 0) // the scripted tokenizer: one token per byte
	for i, q := range map[int]float64{1: 0.89, 2: 0.8} {
		a := rep.Artifacts[i]
		for set, n := range map[string]int{"policy": completionTokens, HeldOutSet: 8 * (64 - 1 - 32)} {
			k := a.KLD[set]
			if k == nil {
				t.Fatalf("%s: no KLD on %s", a.Name, set)
			}
			want := kl(0.9, q)
			for name, got := range map[string]float64{"mean": k.MeanKLD, "median": k.KLDMedian, "p90": k.KLDP90, "p99": k.KLDP99, "max": k.KLDMax} {
				if math.Abs(got-want) > 1e-5*want+1e-9 {
					t.Errorf("%s %s: KLD %s %v, want %v", a.Name, set, name, got, want)
				}
			}
			if k.Tokens != n || k.SameTop != 1 || math.Abs(k.MeanDeltaP-(q-0.9)) > 1e-6 || math.Abs(k.RMSDeltaP-(0.9-q)) > 1e-6 ||
				math.Abs(k.PPLRatio-0.9/q) > 1e-5 || math.Abs(k.DeltaPMax-(q-0.9)) > 1e-6 {
				t.Errorf("%s %s: %+v", a.Name, set, k)
			}
		}
	}
	if rep.Artifacts[0].KLD != nil {
		t.Errorf("the baseline has KLD against itself: %v", rep.Artifacts[0].KLD)
	}
	found := map[string]bool{}
	for _, a := range rep.Artifacts[1:] {
		for _, c := range a.Checks {
			if c.Name == "kld_p99" || c.Name == "same_top" {
				found[a.Name+" "+c.Route+" "+c.Name] = c.Pass
			}
		}
	}
	want := map[string]bool{
		"student-q8_0 policy kld_p99": true, "student-q8_0 held_out same_top": true,
		"student-q4_0 policy kld_p99": false, "student-q4_0 held_out same_top": true,
	}
	for k, v := range want {
		if got, ok := found[k]; !ok || got != v {
			t.Errorf("check %s: present %v pass %v, want pass %v (all: %v)", k, ok, got, v, found)
		}
	}
	if len(rep.Approved) != 1 || rep.Approved[0] != "student-q8_0" {
		t.Errorf("approved %v", rep.Approved)
	}
}

// TestHeldOutTooShortIsAnError: like llama-perplexity, the text must hold
// at least two chunks; the error names the file and the numbers.
func TestHeldOutTooShortIsAnError(t *testing.T) {
	dir, paths, clock, eng, its := setup(t)
	textPath := filepath.Join(dir, "short.txt")
	os.WriteFile(textPath, []byte(strings.Repeat("x", 100)), 0o644)
	cfg := baseConfig()
	cfg.HeldOut = HeldOut{Text: textPath, Context: 64}
	_, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err == nil || !strings.Contains(err.Error(), "short.txt") || !strings.Contains(err.Error(), "100 tokens") {
		t.Fatalf("err = %v", err)
	}
	cfg.HeldOut = HeldOut{MaxKLDP99: 0.1}
	if _, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock}); err == nil || !strings.Contains(err.Error(), "held_out.text is empty") {
		t.Fatalf("bar without text: err = %v", err)
	}
}
