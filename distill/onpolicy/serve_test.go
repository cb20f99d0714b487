package onpolicy

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/internal/testmodel"
	"github.com/distill-ml/distill/model/infer"
)

// TestRemoteThroughDistillServeScoresAsLocal: a teacher GGUF served by
// distill serve (legacy completions with echo + logprobs over HTTP, token
// strings mapped back through the tokenizer) gives the trainer the top-k,
// log-probabilities and tails the local path computes from the same file at
// the same positions (issue 14).
func TestRemoteThroughDistillServeScoresAsLocal(t *testing.T) {
	tok := testmodel.Tokenizer(t)
	path := testmodel.GGUF(t, tok, "teacher.gguf", 5)
	opts := infer.Options{KVF32: true, ExactPrompt: true} // logits independent of the call's batch size
	served, err := engine.Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer served.Close()
	h, err := serve.New(served, serve.Options{Parallel: 1, NewSampler: engine.Sampler})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	local, err := infer.Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	vocab := tok.VocabSize()
	const k = 4

	// Two rows of ordinary text tokens, loss on positions 2..6 and 2..4.
	ids := tok.Encode("Replace the scanner battery after 500 charge cycles, then log it in the fleet register.")
	const B, T = 2, 8
	if len(ids) < 2*T+2 {
		t.Fatalf("text encodes to %d tokens, want at least %d", len(ids), 2*T+2)
	}
	b := &batch.Batch{B: B, T: T, Tokens: make([]int32, B*T), Targets: make([]int32, B*T), LossMask: make([]float32, B*T)}
	lastLoss := []int{6, 4}
	for r := 0; r < B; r++ {
		s := ids[r*(T+1):]
		for i := 0; i < T; i++ {
			b.Tokens[r*T+i], b.Targets[r*T+i] = s[i], s[i+1]
			if i >= 2 && i <= lastLoss[r] {
				b.LossMask[r*T+i] = 1
			}
		}
	}

	ot, err := teacher.NewOpenAI(teacher.OpenAIConfig{Name: "served", BaseURL: srv.URL + "/v1", Model: served.ModelID(), Mode: "completion", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	got, dense, gst, err := NewRemote(ot, tok, vocab, k).Score(b)
	if err != nil || dense != nil {
		t.Fatalf("remote through distill serve: %v (dense %v)", err, dense != nil)
	}
	l, err := NewLocal(local, vocab, false, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _, wst, err := l.Score(b)
	if err != nil {
		t.Fatal(err)
	}
	checkSameScores(t, b, k, got, want, gst, wst, 1e-4, 1e-5)
}
