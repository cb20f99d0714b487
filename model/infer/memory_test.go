package infer_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/model/infer/infertest"
)

// hugeCtxChildEnv names the model file a child process of
// TestHugeContextLengthSizesSessionsToTokens evaluates.
const hugeCtxChildEnv = "DISTILL_HUGE_CTX_CHILD_MODEL"

// hugeContextSpec is issue 16's file: llama.context_length = 16777216 on a
// small model whose KV cache costs 4 KiB per token (1 layer × K,V × 1024
// channels × F16), 64 GiB at the declared context.
func hugeContextSpec() infertest.RandomSpec {
	return infertest.RandomSpec{VocabSize: 384, DModel: 1024, NLayers: 1, NHeads: 8, NKVHeads: 8, FFNDim: 256,
		ContextLength: 1 << 24, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, Seed: 3, Type: "Q8_0"}
}

// A GGUF declaring 16M positions must not make a session allocate for
// them: sessions default to a 4096-token cap and their KV cache grows with
// the tokens evaluated. Before the fix every session sized its cache and
// RoPE tables to llama.context_length (fatal error: out of memory), so the
// reproduction runs in a child process (this test binary re-run) that
// evaluates a prompt, decodes, and scores perplexity with default settings,
// then reports its session's capacity, KV bytes and peak RSS growth.
func TestHugeContextLengthSizesSessionsToTokens(t *testing.T) {
	if path := os.Getenv(hugeCtxChildEnv); path != "" {
		hugeCtxChild(path)
		return
	}
	path := infertest.WriteTemp(t, "huge-ctx.gguf", hugeContextSpec())
	cmd := exec.Command(os.Args[0], "-test.run=^TestHugeContextLengthSizesSessionsToTokens$", "-test.count=1")
	cmd.Env = append(os.Environ(), hugeCtxChildEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, firstLines(out, 20))
	}
	var ctx int
	var kv, growth int64
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if _, err := fmt.Sscanf(line, "ctx %d kv %d rss-growth %d", &ctx, &kv, &growth); err == nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("child printed no measurement:\n%s", out)
	}
	if ctx != 4096 {
		t.Errorf("session capacity %d tokens, want the default 4096 (the file declares 16777216)", ctx)
	}
	// 12 tokens fit the first 256-position chunk: 256 × 1 layer × K,V × 1024 × 2 B.
	if want := int64(256 * 1 * 2 * 1024 * 2); kv != want {
		t.Errorf("KV cache holds %d bytes after 12 tokens, want %d (one 256-position chunk)", kv, want)
	}
	// The file is 8 MiB; 64 MiB leaves room for scratch but not for any
	// table sized to 16M positions (the RoPE tables alone would be 4 GiB).
	if growth > 64<<20 {
		t.Errorf("peak RSS grew by %s, want < 64 MiB", sysmem.Format(growth))
	}
}

func hugeCtxChild(path string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	rss0 := sysmem.ProcStatusBytes("VmRSS")
	m, err := infer.Load(path, infer.Options{})
	if err != nil {
		fail(err)
	}
	defer m.Close()
	tokens := []int32{1, 5, 77, 300, 12, 9, 250, 31}
	if _, _, err := m.NLL(tokens, 1, 0); err != nil {
		fail(err)
	}
	s := m.NewSession(0)
	res, err := s.Generate(tokens, infer.GenerateOptions{MaxTokens: 4, IgnoreEOS: true})
	if err != nil {
		fail(err)
	}
	if len(res.Tokens) != 4 {
		fail(fmt.Errorf("generated %d tokens, want 4", len(res.Tokens)))
	}
	fmt.Printf("ctx %d kv %d rss-growth %d\n", s.ContextLength(), s.KVCacheBytes(), sysmem.ProcStatusBytes("VmHWM")-rss0)
}

// firstLines keeps a crashed child's report readable (a Go fatal error
// prints every goroutine).
func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// Load refuses a context cap whose KV cache does not fit next to the
// weights, before allocating anything, with the numbers and the knob; and a
// cap beyond the file's context or a memory limit below the file size.
func TestLoadRefusesMemoryThatDoesNotFit(t *testing.T) {
	sp := hugeContextSpec()
	sp.NLayers, sp.DModel, sp.NHeads, sp.NKVHeads = 2, 256, 4, 2 // 1 KiB KV + 256 B RoPE per token
	path := infertest.WriteTemp(t, "ctx16m.gguf", sp)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const gib = 1 << 30
	for _, c := range []struct {
		name string
		opts infer.Options
		want []string // substrings of the error; nil: loads
		ctx  int
	}{
		{"default cap fits", infer.Options{MemoryLimit: gib}, nil, 4096},
		{"explicit cap fits", infer.Options{Context: 1 << 16, MemoryLimit: gib}, nil, 1 << 16}, // 80 MiB
		// 16M tokens × 1280 B = 20 GiB.
		{"declared context", infer.Options{Context: 1 << 24, MemoryLimit: gib},
			[]string{"16777216 tokens", "20.0 GiB", "the memory limit is 1.0 GiB", "--ctx", "llama.context_length is 16777216"}, 0},
		// 2 sessions × 512Ki tokens × 1280 B = 1.25 GiB.
		{"parallel sessions", infer.Options{Context: 1 << 19, Sessions: 2, MemoryLimit: gib},
			[]string{"2 session(s) × 524288 tokens", "1.2 GiB", "--ctx"}, 0},
		{"beyond the file's context", infer.Options{Context: 1<<24 + 1, MemoryLimit: gib},
			[]string{"16777217", "exceeds", "llama.context_length 16777216"}, 0},
		{"weights alone", infer.Options{MemoryLimit: st.Size() / 2},
			[]string{"weights need", "smaller or more quantized model"}, 0},
	} {
		m, err := infer.Load(path, c.opts)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if got := m.ContextLength(); got != c.ctx {
				t.Errorf("%s: context length %d, want %d", c.name, got, c.ctx)
			}
			m.Close()
			continue
		}
		if err == nil {
			m.Close()
			t.Errorf("%s: loaded, want an error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}
