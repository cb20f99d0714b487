package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
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

// TestKLDStatsMatchPyTorch: on 400 positions of random distributions over
// 50 tokens, every statistic equals PyTorch's computation of the same
// definitions (torch.quantile's linear interpolation, llama-perplexity's
// standard errors and the covariance term of the perplexity ratio).
func TestKLDStatsMatchPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PyTorch (~30 s on a loaded machine); skipped under -short")
	}
	const n, vocab = 400, 50
	rng := rand.New(rand.NewPCG(3, 4))
	var acc kldAccumulator
	var in bytes.Buffer
	fmt.Fprintf(&in, "%d %d\n", n, vocab)
	logSoftmax := func(x []float64) []float32 {
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, v)
		}
		s := 0.0
		for _, v := range x {
			s += math.Exp(v - mx)
		}
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v - mx - math.Log(s))
		}
		return out
	}
	for range n {
		b, c := make([]float64, vocab), make([]float64, vocab)
		for i := range b {
			b[i] = 3 * rng.NormFloat64()
			c[i] = b[i] + 0.4*rng.NormFloat64() // a perturbed copy, as a quantized model is
		}
		base, cand := logSoftmax(b), logSoftmax(c)
		tok := int32(rng.IntN(vocab))
		if err := acc.add(base, cand, tok); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&in, "%d", tok)
		for _, v := range append(append([]float32{}, base...), cand...) {
			fmt.Fprintf(&in, " %.9g", v)
		}
		fmt.Fprintln(&in)
	}
	got := acc.stats()
	out := testpeers.RunPython(t, `
import sys, json, torch
torch.set_default_dtype(torch.float64)
lines = sys.stdin.read().split("\n")
n, v = map(int, lines[0].split())
toks, base, cand = [], [], []
for l in lines[1:1+n]:
    f = l.split()
    toks.append(int(f[0])); x = [float(y) for y in f[1:]]
    base.append(x[:v]); cand.append(x[v:])
tok = torch.tensor(toks); lb = torch.tensor(base); lc = torch.tensor(cand)
kld = (lb.exp() * (lb - lc)).sum(1)
nll = -lc.gather(1, tok[:, None])[:, 0]; nllb = -lb.gather(1, tok[:, None])[:, 0]
dp = (-nll).exp() - (-nllb).exp()
def mu(x):
    m = x.mean(); var = (x * x).mean() - m * m
    return m.item(), (var / (len(x) - 1)).sqrt().item()
q = lambda x, p: torch.quantile(x, p).item()
same = (lb.argmax(1) == lc.argmax(1)).double().mean().item()
lp, lpu = mu(nll); lbm, lbu = mu(nllb)
cov = ((nll * nllb).mean() - nll.mean() * nllb.mean()).item() / (n - 1)
r = lp - lbm; ru = (lpu**2 + lbu**2 - 2 * cov) ** 0.5
json.dump({"mean_kld": mu(kld)[0], "mean_kld_uncertainty": mu(kld)[1], "kld_median": q(kld, .5), "kld_p90": q(kld, .9),
  "kld_p95": q(kld, .95), "kld_p99": q(kld, .99), "kld_max": kld.max().item(), "mean_delta_p": mu(dp)[0],
  "mean_delta_p_uncertainty": mu(dp)[1], "rms_delta_p": (dp * dp).mean().sqrt().item(), "delta_p_min": dp.min().item(),
  "delta_p_p01": q(dp, .01), "delta_p_p05": q(dp, .05), "delta_p_median": q(dp, .5), "delta_p_p95": q(dp, .95),
  "delta_p_p99": q(dp, .99), "delta_p_max": dp.max().item(), "same_top": same,
  "same_top_uncertainty": (same * (1 - same) / (n - 1)) ** 0.5, "ppl": torch.tensor(lp).exp().item(),
  "ppl_base": torch.tensor(lbm).exp().item(), "log_ppl_ratio": r, "log_ppl_ratio_uncertainty": ru,
  "ppl_ratio": torch.tensor(r).exp().item(), "ppl_ratio_uncertainty": torch.tensor(r).exp().item() * ru}, sys.stdout)
`, in.Bytes())
	var want map[string]float64
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	gotJSON, _ := json.Marshal(got)
	var have map[string]float64
	json.Unmarshal(gotJSON, &have)
	if have["tokens"] != n {
		t.Errorf("tokens %v", have["tokens"])
	}
	for k, w := range want {
		if h, ok := have[k]; !ok || math.Abs(h-w) > 1e-6*math.Max(1, math.Abs(w)) {
			t.Errorf("%s: ours %.9g, PyTorch %.9g", k, h, w)
		}
	}
}
