package train

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// init: a run starts from another run's weights (a pretrained teacher
// fine-tuned on Q&A) with a fresh optimizer, schedule and step count.
func TestInitStartsFromCheckpointWeights(t *testing.T) {
	pre := testConfig(t.TempDir(), 30)
	s, _ := testSetup(pre, 1)
	resPre, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}

	fine := testConfig(t.TempDir(), 10)
	fine.Init = filepath.Join(pre.OutDir, "checkpoints")
	f, _ := testSetup(fine, 777) // a different random init: init must overwrite it
	// The weights are the pretrained ones before the first update: the
	// step-0 held-out loss equals the pretrained run's final one.
	resFine, err := Run(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(resFine.FirstEval) != math.Float64bits(resPre.EvalLoss) {
		t.Fatalf("step-0 held-out loss %v, want the pretrained run's final %v", resFine.FirstEval, resPre.EvalLoss)
	}
	if resFine.Steps != 10 || filepath.Base(resFine.Checkpoint) != "step-00000010" {
		t.Fatalf("fine-tune result %+v: want its own 10 updates from step 0", resFine)
	}

	// Without init the same run starts from its random weights.
	plain := testConfig(t.TempDir(), 10)
	p, _ := testSetup(plain, 777)
	resPlain, err := Run(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if resPlain.FirstEval == resPre.EvalLoss {
		t.Fatal("a random init has the pretrained loss: the test cannot tell init from no init")
	}
}

func TestInitRefusesAnotherArchitectureOrTokenizer(t *testing.T) {
	pre := testConfig(t.TempDir(), 5)
	s, _ := testSetup(pre, 1)
	if _, err := Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t.TempDir(), 5)
	cfg.Init = filepath.Join(pre.OutDir, "checkpoints")

	f, _ := testSetup(cfg, 2)
	f.TokenizerHash = "sha256:other"
	if _, err := Run(context.Background(), f); err == nil || !strings.Contains(err.Error(), "init") || !strings.Contains(err.Error(), "tokenizer") {
		t.Fatalf("other tokenizer: %v, want an init error naming the tokenizer", err)
	}
	g, _ := testSetup(cfg, 2)
	g.Student.DModel *= 2
	if _, err := Run(context.Background(), g); err == nil || !strings.Contains(err.Error(), "init") || !strings.Contains(err.Error(), "student") {
		t.Fatalf("other architecture: %v, want an init error naming the student", err)
	}
	cfg.Init = filepath.Join(t.TempDir(), "missing")
	h, _ := testSetup(cfg, 2)
	if _, err := Run(context.Background(), h); err == nil || !strings.Contains(err.Error(), "init") {
		t.Fatalf("missing checkpoint: %v", err)
	}
}
