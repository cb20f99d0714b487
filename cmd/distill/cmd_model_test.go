package main

import (
	"strings"
	"testing"
)

// MobileLLM-125M at vocab 32000, by hand: embedding 32000·576 = 18,432,000;
// per block q 331,776 + k,v 2·110,592 + o 331,776 + SwiGLU 3·884,736 + norms
// 1,152 = 3,540,096; ×30 = 106,202,880; + final norm 576 → 124,635,456.
func TestModelInfoMobileLLM125M(t *testing.T) {
	code, out, stderr := runCLI(t, "model", "info", "--config", "mobilellm-125m", "--vocab", "32000", "--seq-len", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// KV cache per token: 30 layers · 2 · 3 kv heads · 64 · 4 bytes = 46,080 F32.
	// FLOPs/token at position 1: 2·(3,538,944 matmul MACs)·30 + 2·2·9·64·1·30 + 2·32000·576
	//   = 212,336,640 + 69,120 + 36,864,000 = 249,269,760.
	for _, want := range []string{"124,635,456", "46,080 bytes/token F32", "249.27 M forward"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestModelInfoFromTrainingConfigAndErrors(t *testing.T) {
	code, out, stderr := runCLI(t, "model", "info", "train-kd", "--vocab", "4096")
	if code != 0 || !strings.Contains(out, "d_model 256") || !strings.Contains(out, "position 256") {
		t.Fatalf("train-kd: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, _ := runCLI(t, "model", "info"); code != 2 {
		t.Fatalf("no config: exit %d", code)
	}
	if code, _, stderr := runCLI(t, "model", "info", "no-such-preset"); code != 1 || !strings.Contains(stderr, "no-such-preset") {
		t.Fatalf("unknown preset: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "model", "info", "tiny", "--set", "n_heads=3"); code != 1 || !strings.Contains(stderr, "n_heads") {
		t.Fatalf("invalid override: exit %d %s", code, stderr)
	}
}
