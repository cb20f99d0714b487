package runtime

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/distill-ml/distill/internal/testpeers"
)

// llamaScript loads a GGUF in node-llama-cpp (llama.cpp's prebuilt CPU
// binary) with tensor checks, then for each request returns either the logits
// of every position of a prompt or a greedy continuation.
const llamaScript = `
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const out = [];
for (const file of req.files) {
  const model = await llama.loadModel({ modelPath: file.path, checkTensors: true });
  const ctx = await model.createContext({ contextSize: 256, threads: 1, flashAttention: false });
  const seq = ctx.getSequence();
  const res = { logits: [], greedy: [], tokens: [] };
  for (const p of req.logitPrompts) {
    await seq.clearHistory();
    const items = p.map(t => [t, { generateNext: { logits: true } }]);
    const r = await seq.controlledEvaluate(items);
    res.logits.push(r.map(o => {
      const row = [];
      for (const [tok, v] of o.next.logits) row[tok] = v;
      return row;
    }));
  }
  for (const p of req.greedyPrompts) {
    await seq.clearHistory();
    const got = [];
    let input = p.slice();
    while (got.length < req.greedyTokens) {
      const last = input.length - 1;
      const items = input.map((t, i) => i === last ? [t, { generateNext: { token: true, options: { temperature: 0 } } }] : t);
      const r = await seq.controlledEvaluate(items);
      const tok = r[last].next.token;
      got.push(tok);
      input = [tok];
    }
    res.greedy.push(got);
  }
  for (const text of req.texts ?? []) res.tokens.push(model.tokenize(text, true));
  out.push(res);
  await ctx.dispose();
  await model.dispose();
}
process.stdout.write(JSON.stringify(out), () => process.exit(0));
`

type peerRequest struct {
	Files         []peerFile `json:"files"`
	LogitPrompts  [][]int32  `json:"logitPrompts"`
	GreedyPrompts [][]int32  `json:"greedyPrompts"`
	GreedyTokens  int        `json:"greedyTokens"`
	Texts         []string   `json:"texts"`
}

type peerFile struct {
	Path string `json:"path"`
}

type peerResult struct {
	Logits [][][]float64 `json:"logits"` // [prompt][position][vocab]
	Greedy [][]int32     `json:"greedy"`
	Tokens [][]int32     `json:"tokens"`
}

func runLlamaCpp(t *testing.T, req peerRequest) []peerResult {
	t.Helper()
	in, _ := json.Marshal(req)
	raw := testpeers.RunNode(t, "node-llama-cpp", llamaScript, in)
	var out []peerResult
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("decode node-llama-cpp output: %v\n%.500s", err, raw)
	}
	if len(out) != len(req.Files) {
		t.Fatalf("node-llama-cpp returned %d results for %d files", len(out), len(req.Files))
	}
	return out
}

// greedyPrompts are 10 distinct token sequences of varied length.
func greedyPrompts(vocab int) [][]int32 {
	var ps [][]int32
	for i := 0; i < 10; i++ {
		var p []int32
		for j := 0; j < 3+i*2; j++ {
			p = append(p, int32(2+(i*131+j*47+j*j*7)%(vocab-2)))
		}
		ps = append(ps, p)
	}
	return ps
}

// TestAgreesWithLlamaCpp runs the same random-weight GGUF files in our
// runtime and in llama.cpp (node-llama-cpp) and compares per-position logits
// on 3 prompts and 32-token greedy continuations on 10 prompts, for every
// storage type.
func TestAgreesWithLlamaCpp(t *testing.T) {
	types := []string{"F32", "F16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "Q5_0", "Q4_K_M"}
	req := peerRequest{GreedyTokens: 32}
	spec := tinySpec("")
	req.LogitPrompts = [][]int32{
		{10, 20, 30, 40, 50},
		{300, 2, 99, 17, 17, 17, 256, 123, 45, 6, 7, 8},
		{383, 382, 0, 1, 100, 200, 300, 150, 250, 350, 50, 75, 125, 175, 225, 275, 325, 375, 3, 4},
	}
	req.GreedyPrompts = greedyPrompts(spec.VocabSize)
	req.Texts = tokenizerCorpus
	for _, typ := range types {
		req.Files = append(req.Files, peerFile{Path: writeTiny(t, typ)})
	}
	peer := runLlamaCpp(t, req)
	for fi, typ := range types {
		t.Run(typ, func(t *testing.T) {
			tol := 1e-2
			if typ == "F32" || typ == "F16" {
				tol = 1e-3
			}
			m, err := Load(req.Files[fi].Path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			V := m.Hyper.VocabSize
			var worst float64
			for pi, p := range req.LogitPrompts {
				ours, err := m.NewSession(256).EvalAll(p)
				if err != nil {
					t.Fatal(err)
				}
				theirs := peer[fi].Logits[pi]
				if len(theirs) != len(p) {
					t.Fatalf("prompt %d: llama.cpp gave %d positions, want %d", pi, len(theirs), len(p))
				}
				for pos := range p {
					if len(theirs[pos]) != V {
						t.Fatalf("prompt %d pos %d: llama.cpp gave %d logits, want %d", pi, pos, len(theirs[pos]), V)
					}
					var diff, scale float64
					for v := 0; v < V; v++ {
						diff = math.Max(diff, math.Abs(float64(ours[pos*V+v])-theirs[pos][v]))
						scale = math.Max(scale, math.Abs(theirs[pos][v]))
					}
					rel := diff / scale
					worst = math.Max(worst, rel)
					if rel > tol {
						t.Errorf("prompt %d position %d: max |Δlogit| = %.3g, %.3g of max |logit| %.3g (tolerance %g)", pi, pos, diff, rel, scale, tol)
					}
				}
			}
			// Greedy continuations must be identical token for token. The
			// runtime reproduces llama.cpp's float order step by step (see
			// exact.go), so no numeric noise is left to part them even at
			// near-ties; the gap is reported to help diagnose a regression.
			mismatch := 0
			for gi, p := range req.GreedyPrompts {
				s := m.NewSession(256)
				lg, err := s.Eval(p)
				if err != nil {
					t.Fatal(err)
				}
				want := peer[fi].Greedy[gi]
				if len(want) != req.GreedyTokens {
					t.Fatalf("greedy prompt %d: llama.cpp gave %d tokens", gi, len(want))
				}
				for k := 0; k < req.GreedyTokens; k++ {
					tok := Argmax(lg)
					if tok != want[k] {
						var scale float64
						for _, v := range lg {
							scale = math.Max(scale, math.Abs(float64(v)))
						}
						gap := float64(lg[tok] - lg[want[k]])
						mismatch++
						t.Errorf("greedy prompt %d step %d: ours %d, llama.cpp %d, logit gap %.4g (%.2g of max |logit|); identical before", gi, k, tok, want[k], gap, gap/scale)
						break
					}
					if lg, err = s.Eval([]int32{tok}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if typ == "F32" {
				tok, err := m.Tokenizer()
				if err != nil {
					t.Fatal(err)
				}
				for i, text := range req.Texts {
					if got, want := tok.Encode(text), peer[fi].Tokens[i]; !equalIDs(got, want) {
						t.Errorf("tokenize corpus line %d %q:\n ours  %v\n llama %v", i, text, got, want)
					}
					if got := string(tok.Decode(peer[fi].Tokens[i])); got != text {
						t.Errorf("detokenize corpus line %d: %q, want %q", i, got, text)
					}
				}
			}
			t.Logf("%s: worst relative logit difference %.2e; greedy: %d/%d identical", typ, worst, len(req.GreedyPrompts)-mismatch, len(req.GreedyPrompts))
		})
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// tokenizerCorpus exercises the GPT-2 split: contractions, digits, spaces,
// punctuation, newlines, non-ASCII letters, and emoji.
var tokenizerCorpus = []string{
	"The quick brown fox jumps over the lazy dog.",
	"It's 2026; we've got 3,141 apples and they'll cost $42.50!",
	"  leading spaces,\ttabs\tand\nnew lines\n\n  and trailing   ",
	"naïve café résumé — Ünïcödé tëxt, 中文字符, русский текст.",
	"emoji 🙂👍🏽 and symbols ©®™ <s> </s> in text",
	"CamelCaseWords and snake_case_words and kebab-case-words",
	"Numbers: 0 1 12 123 1234 12345 3.14159 -7e10",
	"a b c d e f g h i j k l m n o p q r s t u v w x y z",
	"\"Quoted\" (parenthesised) [bracketed] {braced} 'single'",
	"",
}
