package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/model/checkpoint"
)

// mustDefaults is Defaults for tests; the embedded preset always decodes
// (TestDefaultsAreTheEmbeddedYAML).
func mustDefaults() Config {
	c, err := Defaults()
	if err != nil {
		panic(err)
	}
	return c
}

func testConfig(out string, steps int) Config {
	c := mustDefaults()
	c.Model = "unused-in-fakes"
	c.Data.Train, c.Data.Validation, c.Data.EvalBatches = "train", "val", 4
	c.Loss.Alpha = 0
	c.OutDir = out
	c.Train.BatchSize, c.Train.SeqLen = 2, 8
	c.Train.Steps = steps
	c.Train.LR, c.Train.MinLR, c.Train.Warmup = 0.05, 0.005, 3
	c.Train.EvalEvery, c.Train.CheckpointEvery, c.Train.Keep, c.Train.LogEvery = 5, 5, 0, 5
	return c
}

func testSetup(cfg Config, modelSeed uint64) (Setup, *fakeModel) {
	m := newFakeModel(modelSeed)
	return Setup{Config: cfg, Student: m.cfg, TokenizerHash: "sha256:test", Model: m, Train: newFakeLoader(1),
		Validation: validationSet(cfg.Data.EvalBatches)}, m
}

func TestTrainingLowersHeldOutLoss(t *testing.T) {
	out := t.TempDir()
	s, _ := testSetup(testConfig(out, 60), 1)
	var log bytes.Buffer
	s.Log = &log
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !(res.EvalLoss < 0.8*res.FirstEval) {
		t.Fatalf("held-out loss %v did not fall enough from %v", res.EvalLoss, res.FirstEval)
	}
	if res.Steps != 60 || filepath.Base(res.Checkpoint) != "step-00000060" {
		t.Fatalf("result %+v", res)
	}
	// metrics.jsonl: 60 train lines and 13 eval lines (step 0 and every 5), all parseable.
	b, err := os.ReadFile(res.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		kinds[r["kind"].(string)]++
	}
	if kinds["train"] != 60 || kinds["eval"] != 13 {
		t.Fatalf("metrics kinds %v", kinds)
	}
	png, err := os.ReadFile(res.PlotPath)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("loss.png: %v (%d bytes)", err, len(png))
	}
	if !strings.Contains(log.String(), "step 60/60") || !strings.Contains(log.String(), "eval step 60") {
		t.Fatalf("plain progress lines missing:\n%s", log.String())
	}
	if _, err := checkpoint.Load(res.Checkpoint); err != nil {
		t.Fatalf("final checkpoint: %v", err)
	}
}

// runStoppedThenResumed runs first until it stops after update stop, then
// second resumed from first's checkpoints (build second's model with another
// seed: the checkpoint must overwrite it). what starts each failure.
func runStoppedThenResumed(t *testing.T, what string, first, second Setup, stop int) (*Result, *Result) {
	t.Helper()
	first.StopAfter = stop
	b1, err := Run(context.Background(), first)
	if err != nil {
		t.Fatalf("%s: first part: %v", what, err)
	}
	if b1.Steps != stop {
		t.Fatalf("%s: stopped at %d, want %d", what, b1.Steps, stop)
	}
	second.Resume = filepath.Join(first.Config.OutDir, "checkpoints")
	b2, err := Run(context.Background(), second)
	if err != nil {
		t.Fatalf("%s: resume after update %d: %v", what, stop, err)
	}
	return b1, b2
}

// requireSameAsStraight fails unless a run stopped and resumed (first, then
// resumed on model mResumed) equals the straight run (model mStraight) bit
// for bit: every update's loss and every final weight. what starts each
// failure.
func requireSameAsStraight(t *testing.T, what string, straight, first, resumed *Result, mStraight, mResumed Model) {
	t.Helper()
	joined := append(append([]float64{}, first.TrainHistory...), resumed.TrainHistory...)
	if len(joined) != len(straight.TrainHistory) {
		t.Fatalf("%s: %d updates resumed, %d straight", what, len(joined), len(straight.TrainHistory))
	}
	for i := range joined {
		if math.Float64bits(joined[i]) != math.Float64bits(straight.TrainHistory[i]) {
			t.Fatalf("%s: loss at update %d: straight %v, resumed %v", what, i+1, straight.TrainHistory[i], joined[i])
		}
	}
	for i, p := range mStraight.Params() {
		q := mResumed.Params()[i]
		for j := range p.Data {
			if math.Float32bits(p.Data[j]) != math.Float32bits(q.Data[j]) {
				t.Fatalf("%s: weight %s[%d] differs: %v vs %v", what, p.Name, j, p.Data[j], q.Data[j])
			}
		}
	}
}

// 2N updates straight must equal N updates, a resume from the checkpoint into
// a freshly built model (different init seed) and loader, and N more — in
// every loss and every weight bit.
func TestResumeIsBitIdentical(t *testing.T) {
	for _, accum := range []int{1, 2} {
		const n = 10
		cfg := testConfig(t.TempDir(), 2*n)
		cfg.Train.Accumulation = accum
		straight, sm := testSetup(cfg, 1)
		resA, err := Run(context.Background(), straight)
		if err != nil {
			t.Fatal(err)
		}

		cfg.OutDir = t.TempDir()
		first, _ := testSetup(cfg, 1)
		second, rm := testSetup(cfg, 777) // different init: the checkpoint must overwrite it
		what := fmt.Sprintf("accum %d", accum)
		resB1, resB2 := runStoppedThenResumed(t, what, first, second, n)
		requireSameAsStraight(t, what, resA, resB1, resB2, sm, rm)
		if resA.EvalLoss != resB2.EvalLoss {
			t.Fatalf("accum %d: final held-out loss %v vs %v", accum, resA.EvalLoss, resB2.EvalLoss)
		}
		// The resumed run's metrics file holds one consistent history of 2N updates.
		b, _ := os.ReadFile(resB2.MetricsPath)
		if c := strings.Count(string(b), `"kind":"train"`); c != 2*n {
			t.Fatalf("accum %d: %d train lines after resume", accum, c)
		}
	}
}

func TestNaNLossStopsNamingStepWithoutCheckpoint(t *testing.T) {
	out := t.TempDir()
	s, m := testSetup(testConfig(out, 20), 1)
	m.nanLossAt = 7
	_, err := Run(context.Background(), s)
	var nf *NonFiniteError
	if !errors.As(err, &nf) || nf.Step != 7 || !strings.Contains(err.Error(), "step 7") || !strings.Contains(err.Error(), "loss") {
		t.Fatalf("want a non-finite error at step 7, got %v", err)
	}
	dirs, _ := checkpoint.List(filepath.Join(out, "checkpoints"))
	if len(dirs) != 1 || filepath.Base(dirs[0]) != "step-00000005" {
		t.Fatalf("checkpoints after NaN at 7: %v", dirs)
	}
}

func TestNaNGradientNamesTensor(t *testing.T) {
	s, m := testSetup(testConfig(t.TempDir(), 20), 1)
	m.nanGradAt = 3
	_, err := Run(context.Background(), s)
	last := m.params[len(m.params)-1].Name
	if err == nil || !strings.Contains(err.Error(), "step 3") || !strings.Contains(err.Error(), last+"[3]") {
		t.Fatalf("want an error naming step 3 and %s[3], got %v", last, err)
	}
}

func TestNaNSkipPolicy(t *testing.T) {
	cfg := testConfig(t.TempDir(), 12)
	cfg.Train.NaNPolicy = NaNSkip
	s, m := testSetup(cfg, 1)
	m.nanLossAt = 4
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || len(res.TrainHistory) != 11 || res.Steps != 12 {
		t.Fatalf("skip policy: %+v", res)
	}
	b, _ := os.ReadFile(res.MetricsPath)
	if !strings.Contains(string(b), `"kind":"skip","step":4`) {
		t.Fatalf("no skip record:\n%s", b)
	}
	// Persistent NaN: stops after max_skips in a row.
	cfg = testConfig(t.TempDir(), 30)
	cfg.Train.NaNPolicy, cfg.Train.MaxSkips = NaNSkip, 3
	s, m = testSetup(cfg, 1)
	m.onCall = func(call int) {
		if call >= 2 {
			m.nanLossAt = call
		}
	}
	if _, err := Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "3 consecutive") {
		t.Fatalf("persistent NaN with skip: %v", err)
	}
}

// A skipped update whose gradient norm is not finite, with gradient
// accumulation: naming the bad tensor must not disturb the accumulators, so
// the run goes on (it used to fail the next update: "adamw: 2N gradient
// tensors for N parameters").
func TestNaNGradientSkipWithAccumulation(t *testing.T) {
	cfg := testConfig(t.TempDir(), 8)
	cfg.Train.NaNPolicy, cfg.Train.Accumulation = NaNSkip, 2
	s, m := testSetup(cfg, 1)
	m.nanGradAt = 3 // the first micro-batch of update 2
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || res.Steps != 8 || len(res.TrainHistory) != 7 {
		t.Fatalf("skip with accumulation: %+v", res)
	}
}

// Weights that turn NaN behind finite losses and gradients must not reach disk.
func TestPoisonedWeightsNeverCheckpointed(t *testing.T) {
	out := t.TempDir()
	s, m := testSetup(testConfig(out, 20), 1)
	m.poisonAt = 5 // after the forward of update 5, right before its checkpoint
	_, err := Run(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "poisoned") || !strings.Contains(err.Error(), m.params[0].Name) {
		t.Fatalf("want a refused poisoned checkpoint naming %s, got %v", m.params[0].Name, err)
	}
	if dirs, _ := checkpoint.List(filepath.Join(out, "checkpoints")); len(dirs) != 0 {
		t.Fatalf("checkpoints written from poisoned weights: %v (err %v)", dirs, err)
	}
}

func TestCancelSavesCheckpointAndResumes(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s, m := testSetup(testConfig(out, 20), 1)
	m.onCall = func(call int) {
		if call == 8 {
			cancel()
		}
	}
	res, err := Run(ctx, s)
	if !errors.Is(err, ErrInterrupted) || !res.Interrupted {
		t.Fatalf("want ErrInterrupted, got %v", err)
	}
	if filepath.Base(res.Checkpoint) != "step-00000008" {
		t.Fatalf("checkpoint after cancel: %s", res.Checkpoint)
	}
	s2, _ := testSetup(testConfig(out, 20), 1)
	s2.Resume = res.Checkpoint
	res2, err := Run(context.Background(), s2)
	if err != nil || res2.Steps != 20 || len(res2.TrainHistory) != 12 {
		t.Fatalf("resume after cancel: %+v %v", res2, err)
	}
}

func TestResumeRejectsOtherStudentOrTokenizer(t *testing.T) {
	out := t.TempDir()
	s, _ := testSetup(testConfig(out, 5), 1)
	if _, err := Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	s2, _ := testSetup(testConfig(out, 10), 1)
	s2.TokenizerHash = "sha256:other"
	s2.Resume = filepath.Join(out, "checkpoints")
	if _, err := Run(context.Background(), s2); err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Fatalf("other tokenizer: %v", err)
	}
}

// On a terminal the run draws a progress bar (loss, tokens/s, ETA) instead of lines.
func TestProgressBarOnTerminal(t *testing.T) {
	s, _ := testSetup(testConfig(t.TempDir(), 10), 1)
	var log bytes.Buffer
	s.Log, s.Terminal = &log, true
	if _, err := Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	if !strings.Contains(out, "tok/s") || !strings.Contains(out, "10/10") || strings.Contains(out, "step 10/10  loss") {
		t.Fatalf("terminal progress output:\n%q", out)
	}
	if !strings.Contains(out, "eval step 10") {
		t.Fatalf("eval line missing on terminal:\n%q", out)
	}
}
