package main

import (
	"regexp"
	"strings"
	"testing"
)

// lineOf returns the output line that starts (after spaces) with prefix.
func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return l
		}
	}
	return ""
}

// The tiny preset under llama.cpp's Q4_K_M rules, by hand: 8 layers, so
// use_more_bits gives ffn_down and attn_v of layers 0, 3, 6, 7 Q6_K; the tied
// token_embd is quantized as the output (Q6_K); FFN 768 rows are whole Q4_K
// super-blocks, so nothing falls back. A Q6_K block is 210 bytes per 256
// weights (6.5625 bits), Q4_K 144 (4.5).
func TestModelInfoQuantTiny(t *testing.T) {
	code, out, stderr := runCLI(t, "model", "info", "--config", "tiny", "--vocab", "512", "--quant", "q4_k_m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := map[string]string{
		"token_embd.weight ":     `256×512\s+Q6_K\s+6\.56\s+107,520`,
		"blk.0.ffn_down.weight ": `768×256\s+Q6_K\s+6\.56\s+161,280`,
		"blk.1.ffn_down.weight ": `768×256\s+Q4_K\s+4\.50\s+110,592`,
		"blk.3.attn_v.weight ":   `256×128\s+Q6_K`,
		"blk.4.attn_v.weight ":   `256×128\s+Q4_K`,
		"blk.4.ffn_gate.weight ": `256×768\s+Q4_K`,
		"KV cache     4,096":     `bytes/token \(F16`,
	}
	for prefix, re := range want {
		l := lineOf(out, prefix)
		if !regexp.MustCompile(re).MatchString(l) {
			t.Errorf("%s: line %q does not match %s", prefix, l, re)
		}
	}
	if strings.Contains(stderr, "fall back") {
		t.Errorf("tiny falls back under q4_k_m: %s", stderr)
	}
}

// MobileLLM-125M's width 576 is a multiple of 32, not of 256: every d-wide
// matrix leaves Q4_K for Q5_0, which the command must say.
func TestModelInfoQuantWarnsOnFallback(t *testing.T) {
	code, out, stderr := runCLI(t, "model", "info", "--config", "mobilellm-125m", "--vocab", "32000", "--quant", "q4_k")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning:") || !strings.Contains(stderr, "fall back") {
		t.Errorf("no fallback warning on stderr: %q", stderr)
	}
	if l := lineOf(out, "blk.1.attn_q.weight "); !regexp.MustCompile(`576×576\s+Q5_0\s+5\.50.*wanted Q4_K`).MatchString(l) {
		t.Errorf("attn_q line %q: want Q5_0 (wanted Q4_K)", l)
	}
}

// At vocab 32000 the tiny student's Q4_K_M tensors take well under 100 MiB
// (14 M weights), MobileLLM-350M's 345 M weights at ≥ 4.5 bits do not.
func TestModelInfoBudget(t *testing.T) {
	code, out, stderr := runCLI(t, "model", "info", "--budget-mb", "100", "--quant", "q4_k_m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if l := lineOf(out, "tiny "); !strings.HasSuffix(strings.TrimSpace(l), "yes") {
		t.Errorf("tiny line %q: want fits", l)
	}
	if l := lineOf(out, "mobilellm-350m "); !strings.HasSuffix(strings.TrimSpace(l), "no") {
		t.Errorf("mobilellm-350m line %q: want does not fit", l)
	}
	if code, _, _ := runCLI(t, "model", "info", "--budget-mb", "100"); code != 2 {
		t.Errorf("--budget-mb without --quant: exit %d, want 2", code)
	}
	if code, _, stderr := runCLI(t, "model", "info", "tiny", "--quant", "q9_z"); code != 2 || !strings.Contains(stderr, "q9_z") {
		t.Errorf("unknown --quant: exit %d %s", code, stderr)
	}
}

// IQ4_XS needs 256-wide rows: at MobileLLM-125M's width 576 the d-wide
// matrices take IQ4_NL (llama.cpp's fallback), and without an imatrix the
// first eighth of ffn_down takes Q5_K.
func TestModelInfoQuantIQ4XSFallsBackToIQ4NL(t *testing.T) {
	code, out, stderr := runCLI(t, "model", "info", "--config", "mobilellm-125m", "--vocab", "32000", "--quant", "iq4_xs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if l := lineOf(out, "blk.1.attn_q.weight "); !regexp.MustCompile(`576×576\s+IQ4_NL\s+4\.50.*wanted IQ4_XS`).MatchString(l) {
		t.Errorf("attn_q line %q: want IQ4_NL (wanted IQ4_XS)", l)
	}
	if l := lineOf(out, "blk.0.ffn_down.weight "); !regexp.MustCompile(`1536×576\s+Q5_K\s+5\.50`).MatchString(l) {
		t.Errorf("ffn_down of layer 0 %q: want Q5_K", l)
	}
	if l := lineOf(out, "blk.5.ffn_down.weight "); !regexp.MustCompile(`1536×576\s+IQ4_XS\s+4\.25`).MatchString(l) {
		t.Errorf("ffn_down of layer 5 %q: want IQ4_XS", l)
	}
}
