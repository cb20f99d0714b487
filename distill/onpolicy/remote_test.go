package onpolicy

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

const testVocab = 16

// letter is token id's text in the test vocabulary: "a", "b", ...
func letter(id int32) string { return string(rune('a' + id)) }

// letters maps a token's text back to its id.
type letters struct{}

func (letters) IDForBytes(b []byte) (int32, bool) {
	if len(b) != 1 || b[0] < 'a' || b[0] >= 'a'+testVocab {
		return 0, false
	}
	return int32(b[0] - 'a'), true
}

// randomTeacher writes a random-weight F32 GGUF over the letter vocabulary
// and loads it.
func randomTeacher(t *testing.T) *infer.Model {
	t.Helper()
	cfg := student.Config{VocabSize: testVocab, DModel: 32, NLayers: 2, NHeads: 2, NKVHeads: 1, FFNDim: 48,
		ContextLength: 32, RopeBase: 10000, NormEps: 1e-5}
	// RandomModel wants a vocabulary of at least 259 tokens: draw the
	// weights at that size and keep the first 16 embedding rows, scaled to
	// σ = 1 so that the distributions are far from uniform.
	big := cfg
	big.VocabSize = 300
	m, err := export.RandomModel(big, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Config = cfg
	emb := m.Tensors["token_embd.weight"][:testVocab*cfg.DModel]
	for i := range emb {
		emb[i] *= 50
	}
	m.Tensors["token_embd.weight"] = emb
	m.Vocab = export.Vocab{GGUFVocab: tokenizer.GGUFVocab{Model: "gpt2", Pre: "llama-bpe", BOS: -1, EOS: -1, PAD: -1}, EOT: -1}
	for i := int32(0); i < testVocab; i++ {
		m.Vocab.Tokens = append(m.Vocab.Tokens, letter(i))
		m.Vocab.Types = append(m.Vocab.Types, tokenizer.TypeNormal)
	}
	path := filepath.Join(t.TempDir(), "teacher.gguf")
	if err := export.Write(path, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	im, err := infer.Load(path, infer.Options{KVF32: true, ExactPrompt: true}) // logits independent of how many tokens a call evaluates
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	return im
}

// echoServer is an OpenAI-compatible /v1/completions that scores a token-id
// prompt with the runtime as vLLM does with echo: true and logprobs: k:
// tokens, token_logprobs and top_logprobs over the prompt (first entry
// null), then one generated token. mutate may break the answer.
func echoServer(t *testing.T, m *infer.Model, mutate func(lp map[string]any)) *httptest.Server {
	t.Helper()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Prompt   []int32 `json:"prompt"`
			Echo     bool    `json:"echo"`
			Logprobs int     `json:"logprobs"`
		}
		if r.URL.Path != "/v1/completions" || json.NewDecoder(r.Body).Decode(&req) != nil || !req.Echo {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		logits, err := m.NewSession(len(req.Prompt)).EvalAll(req.Prompt)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		V := m.Hyper.VocabSize
		tokens := []string{}
		tokenLP := []any{nil}
		top := []any{nil}
		ids, lps := make([]int32, req.Logprobs), make([]float64, req.Logprobs)
		for i, id := range req.Prompt {
			tokens = append(tokens, letter(id))
			if i == 0 {
				continue
			}
			z := logits[(i-1)*V : i*V]
			lse, _, _ := teacher.TopKTail(z, 1, 0, ids, lps)
			tokenLP = append(tokenLP, float64(z[id])-lse)
			alts := map[string]float64{}
			for j, a := range ids {
				alts[letter(a)] = lps[j]
			}
			top = append(top, alts)
		}
		tokens, tokenLP, top = append(tokens, "a"), append(tokenLP, -1.0), append(top, map[string]float64{"a": -1})
		lp := map[string]any{"tokens": tokens, "token_logprobs": tokenLP, "top_logprobs": top}
		if mutate != nil {
			mutate(lp)
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{"text": "", "logprobs": lp}}})
	}))
}

func remoteFor(t *testing.T, url string) *Remote {
	t.Helper()
	ot, err := teacher.NewOpenAI(teacher.OpenAIConfig{Name: "t", BaseURL: url + "/v1", Model: "m", Mode: "completion", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return NewRemote(ot, letters{}, testVocab, 4)
}

func sampleBatch() *batch.Batch {
	const B, T = 2, 8
	b := &batch.Batch{B: B, T: T, Tokens: make([]int32, B*T), Targets: make([]int32, B*T), LossMask: make([]float32, B*T)}
	seqs := [][]int32{{1, 2, 3, 9, 9, 4, 7, 0, 0}, {5, 6, 11, 12, 13, 14, 0, 0, 0}}
	lastLoss := []int{6, 4}
	for r, s := range seqs {
		for i := 0; i < T; i++ {
			b.Tokens[r*T+i], b.Targets[r*T+i] = s[i], s[i+1]
			if i >= 2 && i <= lastLoss[r] {
				b.LossMask[r*T+i] = 1
			}
		}
	}
	return b
}

// The remote path (echo + logprobs over HTTP) gives the trainer exactly the
// top-k, logprobs and tails the local path computes from the same model at
// the same positions.
func TestRemoteScoresAsTheLocalTeacher(t *testing.T) {
	m := randomTeacher(t)
	srv := echoServer(t, m, nil)
	defer srv.Close()
	b := sampleBatch()
	got, dense, gst, err := remoteFor(t, srv.URL).Score(b)
	if err != nil || dense != nil {
		t.Fatalf("remote: %v (dense %v)", err, dense != nil)
	}
	local, err := NewLocal(m, testVocab, false, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _, wst, err := local.Score(b)
	if err != nil {
		t.Fatal(err)
	}
	checkSameScores(t, b, 4, got, want, gst, wst, 1e-9, 1e-7)
}

// checkSameScores fails t unless the remote scores got (stats gst) equal the
// local want (wst) on the 8 positions of b: the summed logprob within
// lpTol, the valid flags (= b's loss mask) exactly, tails and the k
// alternatives' logprobs within tol, their ids exactly.
func checkSameScores(t *testing.T, b *batch.Batch, k int, got, want *batch.Batch, gst, wst Stats, lpTol, tol float64) {
	t.Helper()
	if gst.Positions != 8 || wst.Positions != gst.Positions || math.Abs(gst.Logprob-wst.Logprob) > lpTol {
		t.Fatalf("stats remote %+v local %+v", gst, wst)
	}
	for p := range b.LossMask {
		if got.TeacherValid[p] != want.TeacherValid[p] || got.TeacherValid[p] != b.LossMask[p] {
			t.Fatalf("position %d: valid remote %v local %v mask %v", p, got.TeacherValid[p], want.TeacherValid[p], b.LossMask[p])
		}
		if math.Abs(float64(got.TailMass[p]-want.TailMass[p])) > tol {
			t.Fatalf("position %d: tail remote %v local %v", p, got.TailMass[p], want.TailMass[p])
		}
		for j := 0; j < k; j++ {
			i := p*k + j
			if got.TopKIDs[i] != want.TopKIDs[i] || math.Abs(float64(got.TopKLogprobs[i]-want.TopKLogprobs[i])) > tol {
				t.Fatalf("position %d alt %d: remote %d %v, local %d %v", p, j, got.TopKIDs[i], got.TopKLogprobs[i], want.TopKIDs[i], want.TopKLogprobs[i])
			}
		}
	}
}

// An endpoint that cannot score a given sequence is refused with a message
// naming what it lacks.
func TestRemoteRefusesAnEndpointWithoutEchoLogprobs(t *testing.T) {
	m := randomTeacher(t)
	for _, tc := range []struct {
		name   string
		mutate func(lp map[string]any)
		want   string
	}{
		{"no echo", func(lp map[string]any) { // only the generated token, as a server ignoring echo answers
			lp["tokens"], lp["token_logprobs"], lp["top_logprobs"] = []string{"a"}, []any{-1.0}, []any{map[string]float64{"a": -1}}
		}, "lacks echo"},
		{"no logprobs", func(lp map[string]any) { clear(lp) }, "lacks logprobs"},
		{"no prompt top_logprobs", func(lp map[string]any) {
			top := lp["top_logprobs"].([]any)
			for i := range top {
				top[i] = nil
			}
		}, "lacks top_logprobs over the prompt"},
		{"another tokenizer", func(lp map[string]any) { lp["tokens"].([]string)[2] = "z" }, "does not read the student's token ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := echoServer(t, m, tc.mutate)
			defer srv.Close()
			_, _, _, err := remoteFor(t, srv.URL).Score(sampleBatch())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// An endpoint that rejects the request outright (no echo support).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"echo is not supported"}}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	_, _, _, err := remoteFor(t, srv.URL).Score(sampleBatch())
	if !errors.Is(err, teacher.ErrEchoUnsupported) || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "echo is not supported") {
		t.Fatalf("HTTP 400: %v", err)
	}
}
