package train

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
	"github.com/distill-ml/distill/distill/policy"
)

func TestCheckPolicyRefusesForbiddenSignals(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ds")
	var recs []*dataset.Record
	for _, r := range []struct{ class, prompt string }{{"public", "a"}, {"internal", "b"}} {
		recs = append(recs, &dataset.Record{Split: "train", Source: "s", Teacher: "local-teacher", Prompt: r.prompt, Completion: "x",
			Tokens: []int32{1, 2, 3}, PromptLen: 1, TopKIDs: []int32{2, 4, 3, 5}, TopKLogprobs: []float32{-0.1, -3, -0.2, -2}, TailMass: []float32{0.05, 0.1},
			Provenance: `{"class":"` + r.class + `"}`})
	}
	datasettest.Write(t, dir, dataset.Meta{TokenizerHash: "sha256:t", VocabSize: 10, Teacher: "local-teacher", TopK: 2}, dataset.WriterOptions{}, recs)
	var pol policy.Policy
	if err := configs.Load("policy-default", &pol); err != nil {
		t.Fatal(err)
	}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := CheckPolicy(dir, &pol); err != nil {
		t.Fatalf("policy-default allows logprobs for public and internal: %v", err)
	}
	c := pol.Classes["internal"]
	c.Store = []policy.Signal{policy.SignalText}
	pol.Classes["internal"] = c
	err := CheckPolicy(dir, &pol)
	if err == nil || !strings.Contains(err.Error(), "row 1") || !strings.Contains(err.Error(), `"logprobs" may not be stored for class "internal"`) {
		t.Fatalf("forbidden logprobs not refused with row and reason: %v", err)
	}
}
