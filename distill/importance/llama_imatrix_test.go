package importance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/imatrix"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/student"
)

// TestComputeMatchesLlamaImatrix runs llama.cpp's own llama-imatrix (its
// tools/imatrix/imatrix.cpp built against node-llama-cpp's libllama) and
// Compute on the same F32 model and calibration text, and compares the
// files entry by entry.
//
// llama-imatrix tokenizes the whole text (BOS first when the vocab asks for
// it), cuts it into len/n_ctx chunks of n_ctx tokens, drops the remainder,
// puts BOS at the start of every chunk (when add_bos) and evaluates each chunk
// as one batch from an empty KV cache, collecting only batches of ≥ 16 tokens
// and no output.weight. distill imatrix evaluates whole dataset rows instead;
// here Compute gets exactly llama-imatrix's chunks, so the sums, the row
// counts (chunks × n_ctx per matrix), chunk_count and chunk_size can all be
// compared. Flash attention is off on both sides (node-llama-cpp's default,
// which Options.ExactPrompt reproduces); llama-imatrix's warm-up batch has 2
// tokens, below its 16-token floor, so it collects nothing. The sums are accumulated in the same
// float32 order from llama.cpp's own activations, so the tolerance is 1e-6
// relative; measured 2026-12-07: identical.
func TestComputeMatchesLlamaImatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs llama-imatrix: not in -short")
	}
	dir := t.TempDir()
	bin := testpeers.LlamaSharedTool(t, "llama-imatrix")
	cfg := student.Config{VocabSize: 320, DModel: 256, NLayers: 2, NHeads: 4, NKVHeads: 2, FFNDim: 512,
		ContextLength: 128, RopeBase: 10000, NormEps: 1e-5}
	m, err := export.RandomModel(cfg, 9)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "f32.gguf")
	if err := export.Write(model, m, export.Options{Type: quant.FileF32}); err != nil {
		t.Fatal(err)
	}
	// Calibration text: words of random lowercase letters (byte-level BPE on both sides).
	rng := rand.New(rand.NewPCG(21, 22))
	var sb strings.Builder
	for i := 0; i < 400; i++ {
		n := 1 + rng.IntN(7)
		for j := 0; j < n; j++ {
			sb.WriteByte(byte('a' + rng.IntN(26)))
		}
		sb.WriteString([]string{" ", " ", " ", ", ", ".\n"}[rng.IntN(5)])
	}
	textPath := filepath.Join(dir, "calib.txt")
	if err := os.WriteFile(textPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	const nCtx = 32
	theirsPath := filepath.Join(dir, "llama.imatrix.gguf")
	cmd := exec.Command(bin, "-m", model, "-f", textPath, "-o", theirsPath, "-c", strconv.Itoa(nCtx), "-b", strconv.Itoa(nCtx),
		"-ub", strconv.Itoa(nCtx), "-t", "2", "-fa", "off", "--no-ppl", "--output-format", "gguf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("llama-imatrix: %v\n%s", err, out)
	}
	theirs, err := imatrix.Read(theirsPath)
	if err != nil {
		t.Fatal(err)
	}

	em, err := engine.Load(model, infer.Options{ExactPrompt: true})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	tokens := em.Tokenize(sb.String())
	bos := em.Tokenize("")
	var seqs [][]int32
	for i := 0; i+nCtx <= len(tokens); i += nCtx {
		seq := append([]int32(nil), tokens[i:i+nCtx]...)
		if len(bos) == 1 {
			seq[0] = bos[0]
		}
		seqs = append(seqs, seq)
	}
	ours, err := Compute(em.Runtime(), seqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tokens (BOS %v): %d chunks of %d", len(tokens), len(bos) == 1, len(seqs), nCtx)
	if len(seqs) < 4 {
		t.Fatalf("only %d chunks: the text is too short for the comparison", len(seqs))
	}
	if theirs.ChunkCount != len(seqs) || theirs.ChunkSize != nCtx {
		t.Errorf("llama-imatrix: %d chunks of %d, ours %d of %d", theirs.ChunkCount, theirs.ChunkSize, len(seqs), nCtx)
	}
	if len(theirs.Entries) != len(ours.Entries) || len(ours.Entries) != 7*cfg.NLayers {
		t.Errorf("%d entries, llama-imatrix %d, want %d", len(ours.Entries), len(theirs.Entries), 7*cfg.NLayers)
	}
	var worst float64
	for name, te := range theirs.Entries {
		oe, ok := ours.Entries[name]
		if !ok {
			t.Errorf("llama-imatrix has %s, we do not", name)
			continue
		}
		if fmt.Sprint(oe.Counts) != fmt.Sprint(te.Counts) || te.Counts[0] != int64(len(seqs)*nCtx) {
			t.Errorf("%s: counts %v, llama-imatrix %v (want %d rows)", name, oe.Counts, te.Counts, len(seqs)*nCtx)
		}
		if len(oe.Sums) != len(te.Sums) {
			t.Errorf("%s: %d sums, llama-imatrix %d", name, len(oe.Sums), len(te.Sums))
			continue
		}
		for j, w := range te.Sums {
			rel := math.Abs(float64(oe.Sums[j])-float64(w)) / math.Abs(float64(w))
			worst = math.Max(worst, rel)
			if rel > 1e-6 {
				t.Errorf("%s column %d: %g, llama-imatrix %g (rel %.2g)", name, j, oe.Sums[j], w, rel)
				break
			}
		}
	}
	t.Logf("worst relative difference of a sum: %.3g", worst)
}
