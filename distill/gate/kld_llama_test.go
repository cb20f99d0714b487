package gate_test

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// heldOutText is deterministic policy-like prose: sentences drawn from a
// fixed vocabulary by a seeded generator.
func heldOutText(words int) string {
	vocab := strings.Fields("the scanner battery charger replace after before every cycles charge policy " +
		"technician must shall report inspect covered warranty unit device service manual section " +
		"within days hours of a an to and or not is are when if 500 30 12 48 §3.2 §4.1 [§2.7]")
	rng := rand.New(rand.NewPCG(7, 11))
	var b strings.Builder
	for i := range words {
		w := vocab[rng.IntN(len(vocab))]
		if i%11 == 0 && i > 0 {
			b.WriteString(". ")
			w = strings.ToUpper(w[:1]) + w[1:]
		} else if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(w)
	}
	return b.String() + ".\n"
}

// llamaKLD is what `llama-perplexity --kl-divergence` printed.
type llamaKLD struct {
	values map[string]float64
}

var llamaStat = regexp.MustCompile(`(?m)^(Mean    KLD|Maximum KLD|99\.0%   KLD|95\.0%   KLD|90\.0%   KLD|Median  KLD|Mean    Δp|RMS Δp    |Same top p|Mean PPL\(Q\)/PPL\(base\)\s*)\s*:\s*(-?[0-9.]+)`)

func parseLlamaKLD(t *testing.T, out string) llamaKLD {
	t.Helper()
	k := llamaKLD{values: map[string]float64{}}
	for _, m := range llamaStat.FindAllStringSubmatch(out, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		k.values[strings.TrimSpace(m[1])] = v
	}
	if len(k.values) < 9 {
		t.Fatalf("llama-perplexity printed %d of 9 KLD statistics:\n%s", len(k.values), out)
	}
	return k
}

// TestKLDMatchesLlamaPerplexity runs the gate and llama.cpp's
// llama-perplexity --kl-divergence (built from the source node-llama-cpp
// ships) on the same F32 baseline, the same Q4_0 candidate and the same
// held-out text (chunks of 128 tokens, BOS first, the second half of each
// chunk scored), and requires the KLD statistics, the same-top share and
// the perplexity ratio to agree within 1% (Δp within its printed precision).
func TestKLDMatchesLlamaPerplexity(t *testing.T) {
	if testing.Short() {
		t.Skip("builds llama-perplexity on first use (many minutes) and runs both sides; skipped under -short")
	}
	perplexity := testpeers.LlamaTool(t, "llama-perplexity")
	dir := t.TempDir()
	tok := testmodel.Tokenizer(t)
	// testmodel's weights (σ 0.02) give near-uniform next-token
	// distributions whose Q4_0 KLD (~3e-4) is below the precision of
	// llama.cpp's 16-bit baseline file; embeddings (tied, so the output head)
	// at σ 0.06 give KLDs near 2e-3 (σ 0.3 makes the actual token's
	// log-probability fall below the file's 16-nat floor).
	scfg := student.Config{VocabSize: tok.VocabSize(), DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 96,
		ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(scfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Tensors["token_embd.weight"] { // tied: the output head too
		m.Tensors["token_embd.weight"][i] *= 3
	}
	m.Vocab = export.TokenizerVocab(tok)
	m.Vocab.AddBOS = true
	m.Name, m.Version = "kld-crosscheck", "1"
	base := filepath.Join(dir, "student-f32.gguf")
	if err := export.Write(base, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	cand := filepath.Join(dir, "student-q4_0.gguf")
	// --pure: every matrix Q4_0, the tied embedding included. llama-quantize's
	// Q4_0 mix would give the embedding Q6_K/Q8_0 and leave a KLD (~6e-5)
	// below llama-perplexity's 16-bit log-prob precision.
	if err := export.Requantize(base, cand, quant.FileQ4_0, export.Options{Pure: true}); err != nil {
		t.Fatal(err)
	}
	textPath := filepath.Join(dir, "heldout.txt")
	if err := os.WriteFile(textPath, []byte(heldOutText(2400)), 0o644); err != nil {
		t.Fatal(err)
	}
	const nCtx, chunks = 128, 8

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(perplexity, append([]string{"-t", "2", "-c", strconv.Itoa(nCtx), "-b", strconv.Itoa(nCtx), "--chunks", strconv.Itoa(chunks)}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("llama-perplexity %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	logits := filepath.Join(dir, "base.kld")
	run("-m", base, "-f", textPath, "--kl-divergence-base", logits)
	// llama-perplexity prints through llama.cpp's asynchronous logger, whose
	// worker can lose the tail of the output when the process exits: on this
	// tiny model about 4 runs in 10 exit 0 with the summary cut short or
	// missing (stdout and --log-file alike; measured here). The figures are
	// deterministic, so a run whose summary is incomplete is repeated (at
	// most 8 runs) rather than compared; a wrong figure still fails.
	out := run("-m", cand, "--kl-divergence-base", logits, "--kl-divergence")
	for try := 1; try < 8 && len(llamaStat.FindAllString(out, -1)) < 9; try++ {
		t.Logf("llama-perplexity printed no complete summary (try %d); running it again", try)
		out = run("-m", cand, "--kl-divergence-base", logits, "--kl-divergence")
	}
	ref := parseLlamaKLD(t, out)

	golden := []gate.Item{{ID: "q1", Prompt: "Question: when is the scanner battery replaced?\nAnswer:", Completion: " after 500 charge cycles [§3.2].\n",
		Score: func(string) gate.Grade { return gate.Grade{} }, Stop: []string{"\n"}}}
	cfg := gate.Config{
		Routes:       map[string]gate.Route{"policy": {Golden: "golden.jsonl"}},
		Context:      nCtx,
		MaxNewTokens: 4,
		Sustained:    gate.Sustain{Seconds: 0.2, IntervalSeconds: 0.1},
		HeldOut:      gate.HeldOut{Text: textPath, Context: nCtx, MaxChunks: chunks},
	}
	rep, err := gate.Run(cfg, gate.Options{Baseline: base, Candidates: []string{cand}, Routes: map[string][]gate.Item{"policy": golden},
		Engine: engine.GateEngine{Options: infer.Options{}}})
	if err != nil {
		t.Fatal(err)
	}
	ours := rep.Artifacts[1].KLD[gate.HeldOutSet]
	if ours == nil {
		t.Fatal("no held-out KLD in the report")
	}
	if want := chunks * (nCtx - 1 - nCtx/2); ours.Tokens != want {
		t.Fatalf("scored %d positions, llama-perplexity scores %d", ours.Tokens, want)
	}
	for _, c := range []struct {
		name      string
		ours, ref float64
	}{
		{"Mean    KLD", ours.MeanKLD, ref.values["Mean    KLD"]},
		{"Maximum KLD", ours.KLDMax, ref.values["Maximum KLD"]},
		{"99.0%   KLD", ours.KLDP99, ref.values["99.0%   KLD"]},
		{"95.0%   KLD", ours.KLDP95, ref.values["95.0%   KLD"]},
		{"90.0%   KLD", ours.KLDP90, ref.values["90.0%   KLD"]},
		{"Median  KLD", ours.KLDMedian, ref.values["Median  KLD"]},
		{"Same top p", 100 * ours.SameTop, ref.values["Same top p"]},
		{"Mean PPL(Q)/PPL(base)", ours.PPLRatio, ref.values["Mean PPL(Q)/PPL(base)"]},
	} {
		t.Logf("%-22s ours %.6f llama-perplexity %.6f", c.name, c.ours, c.ref)
		if math.Abs(c.ours-c.ref) > 0.01*math.Abs(c.ref) {
			t.Errorf("%s: ours %.6f, llama-perplexity %.6f: more than 1%% apart", c.name, c.ours, c.ref)
		}
	}
	// llama-perplexity prints Δp in percent with three decimals, and here
	// RMS Δp is about 0.02%: allow one and a half printed units.
	for _, c := range []struct {
		name      string
		ours, ref float64
	}{{"RMS Δp", 100 * ours.RMSDeltaP, ref.values["RMS Δp"]}, {"Mean    Δp", 100 * ours.MeanDeltaP, ref.values["Mean    Δp"]}} {
		t.Logf("%-22s ours %.6f%% llama-perplexity %.3f%%", c.name, c.ours, c.ref)
		if math.Abs(c.ours-c.ref) > 0.0015 {
			t.Errorf("%s: ours %.6f%%, llama-perplexity %.3f%%", c.name, c.ours, c.ref)
		}
	}
}
