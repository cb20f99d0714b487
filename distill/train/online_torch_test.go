package train

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/student"
)

// torchSampled is the on-policy objective in PyTorch, written from the
// definitions (package loss's doc), not from distill's code: on the loss
// positions of a sampled batch, T²·D(teacher_T, student_T) averaged over the
// positions, D forward KL, reverse KL or JSD(β), with the teacher given as
// dense logits or as top-k logprobs + tail mass (+ the tail tempered at T);
// the student's buckets are softmax(z/T) at the top-k ids and its remaining
// mass. Prints the loss and the gradient of every weight.
const torchSampled = torchStudent + `
def sampled_loss(case):
    b = case["batch"]
    T, kind, beta = case["temperature"], case["kind"], case["beta"]
    ls_full = (logits_of(b) / T).log_softmax(-1)
    pos = [p for p, m in enumerate(b["mask"]) if m != 0]
    total = 0
    for p in pos:
        ls = ls_full[p]
        if case.get("dense") is not None:
            lt = (torch.tensor(case["dense"][p * V:(p + 1) * V]) / T).log_softmax(-1)
            lsb = ls
        else:
            K = b["k"]
            ids = b["ids"][p * K:(p + 1) * K]
            lp = torch.tensor(b["logprobs"][p * K:(p + 1) * K])
            if T == 1:
                tb = torch.cat([lp.exp(), torch.tensor([b["tail"][p]])])
                tb = tb / tb.sum()
            else:
                q = b["tail_t"][p]
                tb = torch.cat([(lp / T).softmax(-1) * (1 - q), torch.tensor([q])])
            lt = tb.log()
            top = ls[ids]
            lsb = torch.cat([top, torch.log1p(-top.exp().sum()).view(1)])
        t, s = lt.exp(), lsb.exp()
        if kind == "forward":
            div = (t * (lt - lsb)).sum()
        elif kind == "reverse":
            div = (s * (lsb - t.clamp_min(1e-12).log())).sum()
        else:
            m = beta * t + (1 - beta) * s
            div = beta * (t * (lt - m.log())).sum() + (1 - beta) * (s * (lsb - m.log())).sum()
        total = total + div
    return T * T * total / len(pos)

out = []
for case in d["cases"]:
    for p in P.values():
        p.grad = None
    loss = sampled_loss(case)
    loss.backward()
    out.append({"loss": loss.item(), "grads": {n: p.grad.reshape(-1).tolist() for n, p in P.items()}})
print(json.dumps(out))
`

// The divergences on the student's own samples — forward KL, reverse KL and
// JSD(β), against dense teacher logits and against top-k + tail (tempered
// tail at T ≠ 1) — agree with PyTorch to 1e-4, loss and every weight's
// gradient, through the whole student: the sampled batch is what the rollout
// produced and the teacher what the runtime scored.
func TestSampledObjectiveMatchesPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with PyTorch: not in -short")
	}
	sc := smallStudent()
	teacherPath := exportTeacher(t, sc, trainCE(t, 5, 3, 1))
	type pj struct {
		Name  string    `json:"name"`
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	}
	type result struct {
		name  string
		loss  float64
		grads map[string][]float32
	}
	var params []pj
	var cases []map[string]any
	var got []result
	for _, dense := range []bool{true, false} {
		for _, temp := range []float64{1, 2} {
			for _, kind := range []string{onpolicy.ForwardKL, onpolicy.ReverseKL, onpolicy.JSD} {
				lc := loss.Config{Alpha: 0.5, Temperature: temp}
				op := onpolicy.Config{Lambda: 1, MaxNewTokens: 6, Temperature: 1, TopP: 1, Divergence: kind, Beta: 0.3, Sampler: onpolicy.SamplerStudent, RefreshEvery: 1}
				obj := op.Objective(lc)
				m, err := student.New(sc, lc, 5) // the same weights in every case
				if err != nil {
					t.Fatal(err)
				}
				if params == nil {
					for _, p := range m.Params() {
						params = append(params, pj{p.Name, p.Shape, append([]float32(nil), p.Data...)})
					}
				}
				b, _ := newFakeLoader(2).Next()
				_, on, st, err := onpolicy.NewRollout(op, sc.VocabSize, -1).Split(onpolicy.NewStudentSampler(m, sc.VocabSize, b.B, b.T), b, rand.New(rand.NewPCG(1, 2)))
				if err != nil || on == nil || st.Tokens == 0 {
					t.Fatalf("rollout: %v %+v", err, st)
				}
				scored, logits, _, err := localTeacher(t, teacherPath, sc.VocabSize, dense, 4, temp).Score(on)
				if err != nil {
					t.Fatal(err)
				}
				terms, err := m.ForwardBackwardObjective(scored, logits, obj)
				if err != nil {
					t.Fatal(err)
				}
				r := result{name: fmt.Sprintf("dense=%v/T=%g/%s", dense, temp, kind), loss: terms.Total, grads: map[string][]float32{}}
				for _, p := range m.Params() {
					r.grads[p.Name] = append([]float32(nil), p.Grad...)
				}
				got = append(got, r)
				cases = append(cases, map[string]any{"temperature": temp, "beta": op.Beta, "kind": obj.KL, "dense": logits,
					"batch": map[string]any{"B": scored.B, "T": scored.T, "tokens": scored.Tokens, "mask": scored.LossMask,
						"k": scored.K, "ids": scored.TopKIDs, "logprobs": scored.TopKLogprobs, "tail": scored.TailMass, "tail_t": scored.TailTempered}})
			}
		}
	}
	raw, err := json.Marshal(map[string]any{"config": sc, "params": params, "cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	var want []struct {
		Loss  float64
		Grads map[string][]float64
	}
	if err := json.Unmarshal(testpeers.RunPython(t, torchSampled, raw), &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("torch returned %d cases, want %d", len(want), len(got))
	}
	for i, g := range got {
		w := want[i]
		if math.Abs(g.loss-w.Loss) > 1e-4*math.Max(1e-3, math.Abs(w.Loss)) {
			t.Errorf("%s: loss distill %.8g torch %.8g", g.name, g.loss, w.Loss)
		}
		var maxDiff, maxGrad float64
		for name, gg := range g.grads {
			for j, v := range gg {
				maxDiff = math.Max(maxDiff, math.Abs(float64(v)-w.Grads[name][j]))
				maxGrad = math.Max(maxGrad, math.Abs(w.Grads[name][j]))
			}
		}
		t.Logf("%s: loss %.6g; max |Δgrad| %.3g of max |grad| %.3g", g.name, w.Loss, maxDiff, maxGrad)
		if maxGrad == 0 || maxDiff > 1e-4*maxGrad {
			t.Errorf("%s: gradients: max difference %.3g, largest gradient %.3g", g.name, maxDiff, maxGrad)
		}
	}
}
