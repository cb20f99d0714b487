package train

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/onpolicy"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/loss"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// exportTeacher writes the weights of m as an F32 GGUF (a vocabulary of
// one-letter tokens of the student's size) and returns its path.
func exportTeacher(t *testing.T, cfg student.Config, m *student.Model) string {
	t.Helper()
	voc := export.Vocab{GGUFVocab: tokenizer.GGUFVocab{Model: "gpt2", Pre: "llama-bpe", BOS: -1, EOS: -1, PAD: -1}, EOT: -1}
	for i := 0; i < cfg.VocabSize; i++ {
		voc.Tokens = append(voc.Tokens, string(rune('a'+i)))
		voc.Types = append(voc.Types, tokenizer.TypeNormal)
	}
	em := &export.Model{Config: cfg, Vocab: voc, Tensors: map[string][]float32{}, Name: "teacher", Version: "0"}
	for _, p := range m.Params() {
		em.Tensors[p.Name] = append([]float32(nil), p.Data...)
	}
	path := filepath.Join(t.TempDir(), "teacher.gguf")
	if err := export.Write(path, em, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	return path
}

// localTeacher loads a teacher GGUF for the trainer (F32 KV cache, so its
// logits follow the student's float arithmetic closely).
func localTeacher(t *testing.T, path string, vocab int, dense bool, topK int, temp float64) *onpolicy.Local {
	t.Helper()
	m, err := infer.Load(path, infer.Options{KVF32: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	lt, err := onpolicy.NewLocal(m, vocab, dense, topK, temp)
	if err != nil {
		t.Fatal(err)
	}
	return lt
}

// trainRows reads the "train" rows of a metrics.jsonl.
func trainRows(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r["kind"] == "train" {
			rows = append(rows, r)
		}
	}
	return rows
}

func onlineConfig(out string, steps int, lc loss.Config) Config {
	cfg := testConfig(out, steps)
	cfg.Loss = lc
	cfg.Teacher.Local = onpolicy.LocalConfig{Model: "teacher.gguf", Dense: true}
	cfg.Teacher.TopK = 4
	cfg.Train.LR, cfg.Train.MinLR, cfg.Train.Warmup = 0.01, 0.001, 0
	return cfg
}

// A teacher holding the student's own weights, asked online, agrees with
// the student: the KL of the first update is zero (up to the runtime's
// float order), dense and top-k + tempered tail alike, while a teacher with
// other weights is far from it. The teacher's time is reported per update.
func TestOnlineTeacherScoresEveryBatch(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dense bool
		temp  float64
	}{{"dense", true, 1}, {"dense-T2", true, 2}, {"topk", false, 1}, {"topk-T2", false, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			lc := mustDefaults().Loss
			lc.Alpha, lc.Temperature = 1, tc.temp
			// top-k of 4 of 16 tokens: the tail is one bucket, so the
			// student's KL to itself is zero only through the tempered tail.
			firstKL := func(teacherWeights func() *student.Model) float64 {
				out := t.TempDir()
				cfg := onlineConfig(out, 3, lc)
				m, err := student.New(smallStudent(), lc, 1)
				if err != nil {
					t.Fatal(err)
				}
				teacher := localTeacher(t, exportTeacher(t, smallStudent(), teacherWeights()), 16, tc.dense, 4, tc.temp)
				s := Setup{Config: cfg, Student: smallStudent(), TokenizerHash: "sha256:test", Model: m, Train: newFakeLoader(1),
					Validation: validationSet(cfg.Data.EvalBatches), Teacher: teacher, EOS: -1}
				res, err := Run(context.Background(), s)
				if err != nil {
					t.Fatal(err)
				}
				rows := trainRows(t, res.MetricsPath)
				on, ok := rows[0]["online"].(map[string]any)
				if !ok {
					t.Fatalf("train row without the online teacher's record: %v", rows[0])
				}
				if share, ok := on["teacher_share"].(float64); !ok || share < 0 || share > 1 {
					t.Fatalf("teacher_share %v", on["teacher_share"])
				}
				return rows[0]["kl"].(float64)
			}
			self := func() *student.Model {
				m, err := student.New(smallStudent(), lc, 1)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			if kl := firstKL(self); !(math.Abs(kl) < 1e-6) {
				t.Fatalf("KL to a teacher with the student's own weights = %v, want ~0", kl)
			}
			if kl := firstKL(func() *student.Model { return trainCE(t, 5, 3, tc.temp) }); !(kl > 1e-2) {
				t.Fatalf("KL to another teacher = %v, want clearly > 0", kl)
			}
		})
	}
}

// repeatLoader yields the same batch forever: prompt 1 2 3 (positions 0–1
// are prompt, loss from position 2 on) then the continuation cont repeated.
type repeatLoader struct{ b batch.Batch }

func newRepeatLoader(cont int32) *repeatLoader {
	const B, T = 2, 8
	l := &repeatLoader{batch.Batch{B: B, T: T, Tokens: make([]int32, B*T), Targets: make([]int32, B*T), LossMask: make([]float32, B*T)}}
	for r := 0; r < B; r++ {
		seq := []int32{1, 2, 3, cont, cont, cont, cont, cont, cont}
		for i := 0; i < T; i++ {
			l.b.Tokens[r*T+i], l.b.Targets[r*T+i] = seq[i], seq[i+1]
			if i >= 2 {
				l.b.LossMask[r*T+i] = 1
			}
		}
	}
	return l
}

func (l *repeatLoader) Next() (*batch.Batch, error)     { return &l.b, nil }
func (l *repeatLoader) State() (json.RawMessage, error) { return json.RawMessage(`{}`), nil }
func (l *repeatLoader) Restore(json.RawMessage) error   { return nil }

// trainCE trains a fresh student on the fixed continuation cont (CE only).
func trainCE(t *testing.T, cont int32, seed int64, temp float64) *student.Model {
	t.Helper()
	cfg := testConfig(t.TempDir(), 40)
	cfg.Loss.Temperature = temp
	cfg.Train.LR, cfg.Train.MinLR, cfg.Train.Warmup = 0.02, 0.02, 0
	m, err := student.New(smallStudent(), cfg.Loss, seed)
	if err != nil {
		t.Fatal(err)
	}
	s := Setup{Config: cfg, Student: smallStudent(), TokenizerHash: "sha256:test", Model: m, Train: newRepeatLoader(cont),
		Validation: []*batch.Batch{&newRepeatLoader(cont).b}}
	if _, err := Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return m
}

// probAfterPrompt is the student's probability of token id after 1 2 3.
func probAfterPrompt(t *testing.T, m *student.Model, id int32) float64 {
	t.Helper()
	tokens := []int32{1, 2, 3, 0, 0, 0, 0, 0}
	z, err := m.Logits(tokens, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	row := z[2*16 : 3*16]
	mx := row[0]
	for _, v := range row {
		mx = max(mx, v)
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v - mx))
	}
	return math.Exp(float64(row[id]-mx)) / s
}

// The on-policy loop feeds the student its own samples: a student that
// learned the continuation 9 after "1 2 3", where the teacher says 5,
// samples 9, the teacher scores it, and reverse KL on those samples drives
// the probability of 9 down and the teacher's log-probability of the
// student's samples up. No stored teacher signal and no label is used:
// every row is sampled (λ = 1) and CE has no weight on sampled positions.
func TestOnPolicyCorrectsTheStudentsOwnMistake(t *testing.T) {
	const wrong, right = 9, 5
	teacherModel := trainCE(t, right, 3, 1)
	stud := trainCE(t, wrong, 4, 1)
	before := probAfterPrompt(t, stud, wrong)
	if before < 0.5 {
		t.Fatalf("the student did not learn its wrong continuation: p(9) = %v", before)
	}
	lc := mustDefaults().Loss
	lc.Alpha, lc.Temperature = 0, 1 // as the student was built (trainCE)
	out := t.TempDir()
	cfg := onlineConfig(out, 30, lc)
	cfg.Data.Packing = "whole"
	cfg.Train.OnPolicy = onpolicy.Config{Lambda: 1, MaxNewTokens: 4, Temperature: 1, TopP: 1, Divergence: onpolicy.ReverseKL, Sampler: "gguf:f32", RefreshEvery: 1}
	cfg.Train.EvalEvery, cfg.Train.CheckpointEvery = 30, 30
	// The loader still yields the wrong continuation as its "labels": were
	// they trained on, p(9) would rise.
	s := Setup{Config: cfg, Student: smallStudent(), TokenizerHash: "sha256:test", Model: stud, Train: newRepeatLoader(wrong),
		Validation: []*batch.Batch{&newRepeatLoader(wrong).b}, EOS: -1,
		Teacher: localTeacher(t, exportTeacher(t, smallStudent(), teacherModel), 16, true, 4, 1)}
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	after := probAfterPrompt(t, stud, wrong)
	if !(after < before/2) {
		t.Fatalf("p(wrong continuation) %v → %v: not corrected", before, after)
	}
	rows := trainRows(t, res.MetricsPath)
	lp := func(r map[string]any) float64 {
		on := r["online"].(map[string]any)
		if on["offpolicy_tokens"].(float64) != 0 || on["sample_rows"].(float64) != 2 {
			t.Fatalf("λ = 1: every row must be sampled: %v", on)
		}
		return on["teacher_logprob_of_samples"].(float64)
	}
	if first, last := lp(rows[0]), lp(rows[len(rows)-1]); !(last > first+1) {
		t.Fatalf("teacher log-prob of the student's samples %v → %v: did not rise", first, last)
	}
}

// On-policy training resumes bit-identically, with the runtime sampler (the
// student exported to F32, refreshed every update) and with the live one:
// the sampler's generator is the trainer's RNG, whose state the checkpoint
// keeps, so N + resume + N updates sample the same tokens and reach the same
// weights as 2N straight.
func TestOnPolicyResumeIsBitIdentical(t *testing.T) {
	for _, sampler := range []string{"gguf:f32", onpolicy.SamplerStudent} {
		t.Run(sampler, func(t *testing.T) { testOnPolicyResume(t, sampler) })
	}
}

func testOnPolicyResume(t *testing.T, sampler string) {
	const n = 4
	teacherPath := exportTeacher(t, smallStudent(), trainCE(t, 5, 3, 2))
	lc := mustDefaults().Loss
	lc.Alpha, lc.Temperature, lc.KL = 0.5, 2, loss.KLForward
	setup := func(seed int64, out string) (Setup, *student.Model) {
		cfg := onlineConfig(out, 2*n, lc)
		cfg.Data.Packing = "whole"
		cfg.Train.EvalEvery, cfg.Train.CheckpointEvery = 2, 2
		cfg.Train.OnPolicy = onpolicy.Config{Lambda: 0.5, MaxNewTokens: 5, Temperature: 1, TopP: 0.9, Divergence: onpolicy.JSD, Beta: 0.5, Sampler: sampler, RefreshEvery: 1}
		m, err := student.New(smallStudent(), lc, seed)
		if err != nil {
			t.Fatal(err)
		}
		return Setup{Config: cfg, Student: smallStudent(), TokenizerHash: "sha256:test", Model: m, Train: newFakeLoader(1),
			Validation: validationSet(cfg.Data.EvalBatches), EOS: 15,
			Teacher: localTeacher(t, teacherPath, 16, false, 4, 2)}, m
	}
	sA, mA := setup(1, t.TempDir())
	resA, err := Run(context.Background(), sA)
	if err != nil {
		t.Fatal(err)
	}
	sampled := 0
	for _, r := range trainRows(t, resA.MetricsPath) {
		n, _ := r["online"].(map[string]any)["sample_rows"].(float64) // absent: 0
		sampled += int(n)
	}
	if sampled == 0 || sampled == 2*2*n {
		t.Fatalf("λ = 0.5 sampled %d of %d rows: the mix is not exercised", sampled, 2*2*n)
	}
	requireResumeIsBitIdentical(t, setup, n, resA, mA)
}

// The on-policy divergence is a curve of the loss plot, restored on resume
// from the rows kept in metrics.jsonl.
func TestOnPolicyDivergenceIsPlotted(t *testing.T) {
	dir := t.TempDir()
	rows := `{"kind":"train","step":1,"loss":2,"online":{"teacher_s":0.1,"onpolicy_divergence":0.75}}
{"kind":"train","step":2,"loss":1.5,"online":{"teacher_s":0.1}}
{"kind":"train","step":3,"loss":1,"online":{"teacher_s":0.1,"onpolicy_divergence":0.5}}
`
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := openMetrics(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	if len(m.onPolicyPts) != 1 || m.onPolicyPts[0] != (point{1, 0.75}) {
		t.Fatalf("restored on-policy points %v", m.onPolicyPts)
	}
	d := 0.25
	m.train(trainRecord{Kind: "train", Step: 3, Loss: 1, Online: &onlineRecord{SampledDivergence: &d}})
	if len(m.onPolicyPts) != 2 || m.onPolicyPts[1] != (point{3, 0.25}) {
		t.Fatalf("on-policy points %v", m.onPolicyPts)
	}
	if err := m.plot(filepath.Join(dir, "loss.png")); err != nil {
		t.Fatal(err)
	}
}
