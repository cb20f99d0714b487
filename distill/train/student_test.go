package train

import (
	"context"
	"testing"

	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

// The student is the trainer's Model as it is: its Params are the
// optimizer's (optim.Param), with no adapter or copy between them.
var _ Model = (*student.Model)(nil)

func smallStudent() student.Config {
	return student.Config{VocabSize: 16, DModel: 16, NLayers: 2, NHeads: 2, NKVHeads: 1, FFNDim: 32,
		ContextLength: 16, RopeBase: 10000, NormEps: 1e-5}
}

// The real Gorgonia student through the trainer: the held-out loss falls, and
// N + resume + N equals 2N straight, bit for bit.
func TestRealStudentTrainsAndResumesBitIdentically(t *testing.T) {
	const n = 8
	cfg := testConfig(t.TempDir(), 2*n)
	cfg.Train.LR, cfg.Train.MinLR = 0.01, 0.001
	cfg.Train.EvalEvery, cfg.Train.CheckpointEvery = 4, 4
	setup := func(seed int64, out string) (Setup, *student.Model) {
		m, err := student.New(smallStudent(), cfg.Loss, seed)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.OutDir = out
		return Setup{Config: c, Student: smallStudent(), TokenizerHash: "sha256:test", Model: m, Train: newFakeLoader(1),
			Validation: validationSet(cfg.Data.EvalBatches)}, m
	}
	sA, mA := setup(1, t.TempDir())
	resA, err := Run(context.Background(), sA)
	if err != nil {
		t.Fatal(err)
	}
	if !(resA.EvalLoss < resA.FirstEval) {
		t.Fatalf("held-out loss did not fall: %v → %v", resA.FirstEval, resA.EvalLoss)
	}
	resB2 := requireResumeIsBitIdentical(t, setup, n, resA, mA)
	// The exporter's reader sees the llama.cpp names and the config.
	s, w, _, err := checkpoint.LoadWeights(resB2.Checkpoint)
	if err != nil || s != smallStudent() || len(w["blk.1.attn_k.weight"]) != 8*16 {
		t.Fatalf("LoadWeights: %v %+v %d", err, s, len(w))
	}
}

// requireResumeIsBitIdentical runs setup's configuration for n updates,
// resumes it (from a model built with another seed) to the end, and fails
// unless that equals the straight run (a, model mStraight) bit for bit:
// every update's loss and every final weight. It returns the resumed part.
func requireResumeIsBitIdentical(t *testing.T, setup func(seed int64, out string) (Setup, *student.Model), n int, a *Result, mStraight Model) *Result {
	t.Helper()
	out := t.TempDir()
	sB, _ := setup(1, out)
	sC, mResumed := setup(2, out)
	b1, b2 := runStoppedThenResumed(t, "student", sB, sC, n)
	requireSameAsStraight(t, "student", a, b1, b2, mStraight, mResumed)
	return b2
}
