package collect

import (
	"context"
	"math/rand"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/collect/ratelimit"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// idTeacher answers with exact ids and a fixed two-position response,
// tempered tails included when asked for.
type idTeacher struct{ got teacher.Request }

func (f *idTeacher) Name() string { return "remote-teacher" }
func (f *idTeacher) Remote() bool { return false }
func (f *idTeacher) Complete(_ context.Context, req teacher.Request) (*teacher.Response, error) {
	f.got = req
	r := &teacher.Response{IDs: true, PromptIDs: []int32{1, 2}, Text: "ab", FinishReason: "stop",
		TailMass: []float64{0.1, 0.2}}
	for i := 0; i < 2; i++ {
		r.Positions = append(r.Positions, teacher.Position{Alt: teacher.Alt{ID: 65, Logprob: -0.1},
			Top: []teacher.Alt{{ID: 65, Logprob: -0.1}, {ID: 66, Logprob: -3}, {ID: 67, Logprob: -4}, {ID: 68, Logprob: -5}}})
	}
	if req.KDTemperature > 0 {
		r.TailTempered = []float64{0.3, 0.4}
	}
	return r, nil
}

// TestKDTemperatureStoresTemperedTail: with kd_temperature the dataset
// declares tail_temperature, the teacher is asked for the tempered tail and
// every teacher row stores it; a remote teacher cannot have kd_temperature.
func TestKDTemperatureStoresTemperedTail(t *testing.T) {
	e := newEnv(t, 1)
	cfg := e.cfg
	cfg.KDTemperature = 2
	cfg.Defaults()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "kd_temperature 2 needs teacher.kind local") {
		t.Fatalf("kd_temperature with a remote teacher: %v", err)
	}
	cfg.Teacher = TeacherConfig{Kind: "local", Local: &teacher.LocalConfig{Name: "remote-teacher", Model: "m.gguf", Completion: "generate"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ft := &idTeacher{}
	opt := &Options{Config: cfg, Teacher: ft, Tokenizer: servetest.Tokenizer{}, EOS: -1, Policy: e.pol}
	meta, _ := datasetMeta(&cfg, opt, map[string]bool{"public": true})
	if meta.TopK != 4 || meta.TailTemperature != 2 {
		t.Fatalf("meta topk %d tail_temperature %g", meta.TopK, meta.TailTemperature)
	}
	res := askOne(context.Background(), &cfg, opt, meta, ratelimit.New(cfg.Limits), cfg.RetryPolicy(), rand.New(rand.NewSource(1)), Prompt{ID: "p", Prompt: "q", Class: "public", Split: "train", Source: "s"}, func(*retry.Error) {})
	if res.fail != nil {
		t.Fatal(res.fail)
	}
	if ft.got.KDTemperature != 2 {
		t.Fatalf("teacher asked for KD temperature %g", ft.got.KDTemperature)
	}
	if got := res.rec.TailTempered; len(got) != 2 || got[0] != 0.3 || got[1] != 0.4 {
		t.Fatalf("stored tempered tails %v", got)
	}
	cfg.KDTemperature = 0
	meta, _ = datasetMeta(&cfg, opt, map[string]bool{"public": true})
	if meta.TailTemperature != 0 {
		t.Fatalf("without kd_temperature: tail_temperature %g", meta.TailTemperature)
	}
	// A teacher that does not return the tempered tail the dataset declares
	// fails the row rather than storing it without.
	meta.TailTemperature = 2
	resp, _ := ft.Complete(context.Background(), teacher.Request{})
	if _, _, err := buildRecord(opt, meta, Prompt{ID: "p", Prompt: "q", Class: "public", Split: "train", Source: "s"}, "q", resp); err == nil || !strings.Contains(err.Error(), "tempered at 2") {
		t.Fatalf("response without tempered tails: %v", err)
	}
}
