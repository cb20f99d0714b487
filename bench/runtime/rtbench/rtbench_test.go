package rtbench

import (
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/infer/infertest"
)

// llamaBenchJSON renders test records the way llama-bench's json_printer
// does (`-o json`: an array of objects, one "field": value line each, the
// sample arrays last), with the fields' types as llama-bench prints them.
func llamaBenchJSON(recs []LlamaBenchTest) string {
	var b strings.Builder
	b.WriteString("[\n")
	for i, r := range recs {
		if i > 0 {
			b.WriteString(",\n")
		}
		ns := make([]string, len(r.SamplesNs))
		ts := make([]string, len(r.SamplesNs))
		var sum float64
		for j, x := range r.SamplesNs {
			ns[j] = fmt.Sprint(x)
			t := 1e9 * float64(r.NPrompt+r.NGen) / float64(x)
			ts[j] = fmt.Sprintf("%f", t)
			sum += t
		}
		fmt.Fprintf(&b, `  {
    "build_commit": "%s",
    "build_number": %d,
    "cpu_info": "AMD EPYC",
    "gpu_info": "",
    "backends": "CPU",
    "model_filename": "%s",
    "model_type": "llama ?B Q8_0",
    "model_size": %d,
    "model_n_params": 124600000,
    "n_batch": 2048,
    "n_ubatch": 512,
    "n_threads": %d,
    "cpu_mask": "0x0",
    "cpu_strict": false,
    "poll": 50,
    "type_k": "f16",
    "type_v": "f16",
    "n_gpu_layers": 99,
    "flash_attn": -1,
    "tensor_split": "0.00",
    "use_mmap": true,
    "embeddings": false,
    "n_prompt": %d,
    "n_gen": %d,
    "n_depth": 0,
    "test_time": "2026-11-25T12:00:00Z",
    "avg_ns": %d,
    "stddev_ns": 1000,
    "avg_ts": %f,
    "stddev_ts": 1.5,
    "samples_ns": [ %s ],
    "samples_ts": [ %s ]
  }`, r.BuildCommit, r.BuildNumber, r.ModelFile, r.ModelSize, r.NThreads, r.NPrompt, r.NGen,
			r.SamplesNs[0], sum/float64(len(ts)), strings.Join(ns, ", "), strings.Join(ts, ", "))
	}
	b.WriteString("\n]\n")
	return b.String()
}

func TestParseLlamaBench(t *testing.T) {
	pp := LlamaBenchTest{BuildCommit: "de3ff81", BuildNumber: 1, ModelFile: "/m/x.gguf", ModelSize: 133169152,
		NThreads: 2, NPrompt: 128, SamplesNs: []int64{210_000_000, 190_000_000, 200_000_000}}
	tg := pp
	tg.NPrompt, tg.NGen, tg.SamplesNs = 0, 64, []int64{400_000_000, 380_000_000, 390_000_000}
	tests, err := ParseLlamaBench([]byte(llamaBenchJSON([]LlamaBenchTest{pp, tg})))
	if err != nil {
		t.Fatal(err)
	}
	gotPP, gotTG, err := SelectTests(tests, 128, 64)
	if err != nil {
		t.Fatal(err)
	}
	if gotPP.BuildCommit != "de3ff81" || gotPP.NThreads != 2 || gotPP.ModelSize != 133169152 || gotPP.FlashAttn != -1 ||
		gotPP.ModelFile != "/m/x.gguf" || len(gotPP.SamplesNs) != 3 || len(gotPP.SamplesTs) != 3 {
		t.Errorf("pp record decoded as %+v", gotPP)
	}
	// Best repetition: 128 tokens in 0.19 s, 64 tokens in 0.38 s.
	if want := 128 / 0.19; math.Abs(gotPP.BestTokS()-want) > 1e-9*want {
		t.Errorf("pp best %v tok/s, want %v", gotPP.BestTokS(), want)
	}
	if want := 64 / 0.38; math.Abs(gotTG.BestTokS()-want) > 1e-9*want {
		t.Errorf("tg best %v tok/s, want %v", gotTG.BestTokS(), want)
	}
	if _, _, err := SelectTests(tests, 128, 32); err == nil || !strings.Contains(err.Error(), "tg32") {
		t.Errorf("missing tg32: err = %v", err)
	}

	bad := []struct{ name, json, want string }{
		{"not json", "llama-bench: error", "parse llama-bench JSON"},
		{"empty array", "[]", "no test records"},
		{"truncated", llamaBenchJSON([]LlamaBenchTest{pp})[:200], "parse llama-bench JSON"},
		{"no samples", strings.Replace(llamaBenchJSON([]LlamaBenchTest{pp}), `"samples_ns": [ 210000000, 190000000, 200000000 ]`, `"samples_ns": [ ]`, 1), "no samples_ns"},
		{"zero sample", strings.Replace(llamaBenchJSON([]LlamaBenchTest{pp}), "190000000,", "0,", 1), "samples_ns[1] = 0"},
		{"no tokens", strings.Replace(llamaBenchJSON([]LlamaBenchTest{pp}), `"n_prompt": 128`, `"n_prompt": 0`, 1), "bad token counts"},
	}
	for _, c := range bad {
		if _, err := ParseLlamaBench([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestFormatTable(t *testing.T) {
	rows := []Row{
		{Shape: "mobilellm-125m", Type: "Q8_0", FileBytes: 127 << 20, Threads: 2,
			Ours:     Figures{PromptTokS: 300, DecodeTokS: 85, CPUSeconds: 4.25},
			Native:   Figures{PromptTokS: 600, DecodeTokS: 170, CPUSeconds: 5.5},
			Prebuilt: &Figures{PromptTokS: 400, DecodeTokS: 42.5}, OtherCores: 0.05, RSSRatio: 0.93},
		{Shape: "tiny", Type: "F32", FileBytes: 26 << 20, Threads: 1,
			Ours:   Figures{PromptTokS: 2500, DecodeTokS: 9.5, CPUSeconds: 0.2},
			Native: Figures{PromptTokS: 2000, DecodeTokS: 19, CPUSeconds: 0.3}, OtherCores: 1.2},
	}
	var b strings.Builder
	if err := FormatTable(&b, rows, TableOptions{LoadedCores: 0.3}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 {
		t.Fatalf("table:\n%s", out)
	}
	cols := strings.Count(lines[0], "|")
	for _, l := range lines[1:4] {
		if strings.Count(l, "|") != cols {
			t.Errorf("line has %d separators, header %d:\n%s", strings.Count(l, "|"), cols, l)
		}
	}
	for _, want := range []string{
		"| mobilellm-125m | Q8_0 | 127 MiB | 2 | 300 / 600 | 0.50× | 85.0 / 170 | 0.50× | 4.2 / 5.5 | 0.05 | 0.93 | 400 / 42.5 (0.75× / 2.00×) |",
		"| tiny | F32 | 26 MiB | 1 | 2500 / 2000 | 1.25× † | 9.50 / 19.0 | 0.50× † | 0.2 / 0.3 | 1.20 | — | — |",
		"† measured while other processes used more than 0.30 cores",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	// With the bandwidth measured: decode bytes × tok/s over bandwidth.
	b.Reset()
	rows[0].DecodeBytes, rows[0].Bandwidth = 100e6, 50e9 // 85 tok/s → 17%, 170 → 34%
	if err := FormatTable(&b, rows, TableOptions{LoadedCores: 0.3}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, "| 0.93 | 17% / 34% of 50.0 GB/s | 400 / 42.5") || !strings.Contains(s, "| — | — / — of — | — |") {
		t.Errorf("bandwidth column:\n%s", s)
	}

	// Our decode with the weights on huge pages, beside the mmapped one.
	b.Reset()
	rows[0].OursHugePages = &Figures{PromptTokS: 310, DecodeTokS: 100}
	if err := FormatTable(&b, rows, TableOptions{LoadedCores: 0.3}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, "decode tok/s, weights on huge pages (share of read bandwidth) |") ||
		!strings.Contains(s, "| 17% / 34% of 50.0 GB/s | 100 (20%) | 400 / 42.5") || !strings.Contains(s, "| — / — of — | — | — |") {
		t.Errorf("huge-pages column:\n%s", s)
	}
	rows[0].OursHugePages = nil
	rows[0].DecodeBytes, rows[0].Bandwidth = 0, 0

	// No prebuilt figures and no loaded rows: neither the column nor the footnote.
	b.Reset()
	rows[1].OtherCores = 0.1
	rows[0].Prebuilt = nil
	if err := FormatTable(&b, rows, TableOptions{LoadedCores: 0.3}); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); strings.Contains(s, "prebuilt") || strings.Contains(s, "†") || strings.Contains(s, "bandwidth") {
		t.Errorf("unexpected prebuilt column or load mark:\n%s", s)
	}
}

// TestMeasureOurs runs the measurement on a very small random model: every
// figure is a positive finite number and the bookkeeping is filled in.
func TestMeasureOurs(t *testing.T) {
	sp := infertest.RandomSpec{VocabSize: 300, DModel: 64, NLayers: 2, NHeads: 2, NKVHeads: 1, FFNDim: 128,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5, Sigma: 0.05, Seed: 3, Type: "Q8_0"}
	path := infertest.WriteTemp(t, "m.gguf", sp)
	for _, hugePages := range []bool{false, true} {
		res, err := MeasureOurs(path, 1, 16, 4, 2, hugePages)
		if err != nil {
			t.Fatalf("hugePages %v: %v", hugePages, err)
		}
		f := res.Figures()
		for name, v := range map[string]float64{"prompt tok/s": f.PromptTokS, "decode tok/s": f.DecodeTokS} {
			if !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("hugePages %v: %s = %v", hugePages, name, v)
			}
		}
		if res.FileBytes <= 0 || res.KVBytes <= 0 || res.Types["Q8_0"] == 0 || res.PromptTokens != 16 || res.DecodeTokens != 4 || res.HugePages != hugePages {
			t.Errorf("result %+v", res)
		}
	}
	if _, err := MeasureOurs(path, 1, 0, 4, 2, false); err == nil {
		t.Error("prompt 0 accepted")
	}
	if _, err := MeasureOurs(filepath.Join(t.TempDir(), "missing.gguf"), 1, 4, 4, 1, false); err == nil {
		t.Error("missing file accepted")
	}
}

// TestEnsureLlamaBenchNeedsCMake: without cmake on PATH and nothing cached,
// the build fails with a message that says how to get cmake, before touching
// the cache.
func TestEnsureLlamaBenchNeedsCMake(t *testing.T) {
	bundle := testpeers.LlamaCppBundle(t)
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	commit, err := BundleCommit(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(commit) != 40 {
		t.Fatalf("bundle commit %q", commit)
	}
	bin := t.TempDir()
	if err := os.Symlink(git, filepath.Join(bin, "git")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	cache := filepath.Join(t.TempDir(), "llama-native")
	_, err = EnsureLlamaBench(BuildOptions{Bundle: bundle, CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "cmake not found") || !strings.Contains(err.Error(), "scripts/install-test-deps.sh") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("cache directory created without a build: %v", err)
	}
	if _, err := EnsureLlamaBench(BuildOptions{Bundle: filepath.Join(bin, "missing.bundle"), CacheDir: cache}); err == nil ||
		!strings.Contains(err.Error(), "install-test-deps.sh") {
		t.Errorf("missing bundle: err = %v", err)
	}
}

// TestDecodeBytesPerToken: a tied model's decode reads every tensor; an
// untied one reads one row of token_embd instead of all of it. The files are
// written here tensor by tensor, so the expected sums are known by hand.
func TestDecodeBytesPerToken(t *testing.T) {
	dir := t.TempDir()
	const d, v, f = 64, 300, 128
	for _, untie := range []bool{false, true} {
		w := gguf.NewWriter()
		add := func(name string, dims ...uint64) {
			if _, err := w.AddTensor(name, quant.F32, dims...); err != nil {
				t.Fatal(err)
			}
		}
		add("token_embd.weight", d, v)
		add("blk.0.ffn_up.weight", d, f)
		add("output_norm.weight", d)
		want := int64(4 * (d*v + d*f + d))
		if untie {
			add("output.weight", d, v)
			want += 4 * d // the head is read whole, the embedding only one row of it
		}
		path := filepath.Join(dir, fmt.Sprintf("m-%v.gguf", untie))
		if err := w.WriteFile(path, func(i int, info gguf.TensorInfo, out io.Writer) error {
			_, err := out.Write(make([]byte, info.Size))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeBytesPerToken(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("untie=%v: %d bytes per token, want %d", untie, got, want)
		}
	}
	if s := BandwidthShare(10, 0, 1e9); !math.IsNaN(s) {
		t.Errorf("unknown bytes gave %v", s)
	}
}

// TestTHPMode reads the selected mode out of the kernel's
// transparent_hugepage/enabled line.
func TestTHPMode(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never\n": "madvise",
		"[always] madvise never\n": "always",
		"always madvise [never]":   "never",
		"garbage":                  "unknown",
	} {
		if got := thpMode(in); got != want {
			t.Errorf("thpMode(%q) = %q, want %q", in, got, want)
		}
	}
}
