package export

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/student"
)

// llama-quantize itself is the peer here: a tiny C program calls
// llama_model_quantize from the libllama shipped in @node-llama-cpp/linux-x64
// (headers from the llama.cpp bundle of the same release), so the file
// llama.cpp would produce from our F32 export can be compared with ours.
const llamaQuantizeC = `
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * data) {
	(void)data;
	if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

// readImatrix reads the test's importance weights: u32 count, then per
// entry u32 name length, the name, u32 n, n floats.
static struct llama_model_imatrix_data * readImatrix(const char * path) {
	FILE * f = fopen(path, "rb");
	if (!f) { perror(path); exit(2); }
	uint32_t count;
	if (fread(&count, 4, 1, f) != 1) exit(2);
	struct llama_model_imatrix_data * d = calloc(count + 1, sizeof(*d));
	for (uint32_t i = 0; i < count; i++) {
		uint32_t len, n;
		if (fread(&len, 4, 1, f) != 1) exit(2);
		char * name = calloc(len + 1, 1);
		if (fread(name, 1, len, f) != len || fread(&n, 4, 1, f) != 1) exit(2);
		float * v = malloc(4 * (size_t)n);
		if (fread(v, 4, n, f) != n) exit(2);
		d[i].name = name; d[i].data = v; d[i].size = n;
	}
	fclose(f);
	return d;
}

int main(int argc, char ** argv) {
	if (argc != 5 && argc != 6) { fprintf(stderr, "usage: llama-quantize-min IN OUT FTYPE PURE [IMATRIX]\n"); return 2; }
	llama_log_set(quiet, NULL);
	llama_backend_init();
	struct llama_model_quantize_params p = llama_model_quantize_default_params();
	p.ftype = (enum llama_ftype)atoi(argv[3]);
	p.pure = atoi(argv[4]) != 0;
	p.nthread = 1;
	if (argc == 6) p.imatrix = readImatrix(argv[5]);
	uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
	llama_backend_free();
	return rc == 0 ? 0 : 1;
}
`

// llamaQuantize is llamaQuantizeC linked against node-llama-cpp's libllama.
var llamaQuantize testpeers.BuildOnce

func TestMain(m *testing.M) { os.Exit(llamaQuantize.Run(m)) }

func llamaQuantizeBinary(t testing.TB) string {
	t.Helper()
	bundle := testpeers.LlamaCppBundle(t)
	nm := testpeers.NodeModules(t, "@node-llama-cpp/linux-x64")
	libDir := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	libs, _ := filepath.Glob(filepath.Join(libDir, "libllama.v*.so"))
	if len(libs) != 1 {
		t.Fatalf("want one libllama.v*.so in %s, found %v", libDir, libs)
	}
	lib := filepath.Base(libs[0])
	return llamaQuantize.Program(t, "the llama_model_quantize caller", func(dir string) (string, error) {
		src := filepath.Join(dir, "llama.cpp")
		if err := testpeers.CheckoutLlamaSources(bundle, src, "include/llama.h", "ggml/include"); err != nil {
			return "", err
		}
		return testpeers.CompileC(dir, "llama-quantize-min", llamaQuantizeC,
			[]string{"-O1", "-I", filepath.Join(src, "include"), "-I", filepath.Join(src, "ggml", "include")},
			[]string{"-L" + libDir, "-l:" + lib, "-Wl,-rpath," + libDir})
	})
}

// quantConfigs are the shapes every file type is compared on: tied and
// untied outputs, K-quant-friendly widths (256, 512) and unfriendly ones (96
// with an FFN of 168, not even a multiple of 32; 320 and MobileLLM-125M's 576,
// multiples of 32 only), GQA ratios 1 to 5, and 8 layers so that
// use_more_bits and the first-eighth rules pick distinct layers.
var quantConfigs = []student.Config{
	cfgK,   // d256 ffn512, tied, GQA 2
	cfgOdd, // d96 ffn168, untied, shared blocks
	{VocabSize: 400, DModel: 320, NLayers: 8, NHeads: 5, NKVHeads: 1, FFNDim: 512,
		ContextLength: 256, RopeBase: 10000, NormEps: 1e-5},
	{VocabSize: 300, DModel: 512, NLayers: 8, NHeads: 8, NKVHeads: 2, FFNDim: 256,
		ContextLength: 128, RopeBase: 10000, NormEps: 1e-5, UntieEmbed: true},
	{VocabSize: 260, DModel: 576, NLayers: 2, NHeads: 9, NKVHeads: 3, FFNDim: 768,
		ContextLength: 128, RopeBase: 10000, NormEps: 1e-5},
}

// TestMatchesLlamaQuantize quantizes our F32 export with llama.cpp's own
// llama_model_quantize for every file type, with and without --pure, and
// compares every tensor's type and bytes, every metadata value llama.cpp
// writes and then the whole files with our direct export and our Requantize
// of the same type.
func TestMatchesLlamaQuantize(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama-quantize: not in -short")
	}
	bin := llamaQuantizeBinary(t)
	dir := t.TempDir()
	for _, cfg := range quantConfigs {
		m := randomModel(t, cfg)
		tie := "tied"
		if cfg.UntieEmbed {
			tie = "untied"
		}
		shape := fmt.Sprintf("d%d-ffn%d-%s", cfg.DModel, cfg.FFNDim, tie)
		src := filepath.Join(dir, shape+"-f32.gguf")
		if err := Write(src, m, Options{Type: quant.FileF32}); err != nil {
			t.Fatal(err)
		}
		for _, name := range quant.FileTypeNames() {
			ft, _ := quant.ParseFileType(name)
			if ft == quant.FileF32 {
				continue
			}
			for _, pure := range []bool{false, true} {
				if pure && (!ft.Quantized() || cfg.DModel > 256) {
					continue // --pure needs no more than a friendly and an unfriendly width
				}
				name := fmt.Sprintf("%s-%s", shape, ft)
				if pure {
					name += "-pure"
				}
				t.Run(name, func(t *testing.T) {
					ours := filepath.Join(dir, name+"-ours.gguf")
					re := filepath.Join(dir, name+"-requant.gguf")
					theirs := filepath.Join(dir, name+"-llama.gguf")
					opt := Options{Type: ft, Pure: pure}
					if err := Write(ours, m, opt); err != nil {
						t.Fatal(err)
					}
					if err := Requantize(src, re, ft, opt); err != nil {
						t.Fatal(err)
					}
					cmd := exec.Command(bin, src, theirs, fmt.Sprint(ft.GGUFFileType()), map[bool]string{false: "0", true: "1"}[pure])
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("llama_model_quantize: %v\n%s", err, out)
					}
					compareGGUF(t, "export", ours, theirs)
					compareGGUF(t, "quantize", re, theirs)
				})
			}
		}
	}
}

// TestMatchesLlamaQuantizeWithImatrix gives llama_model_quantize and our
// Requantize the same importance weights (log-normal per column, as real
// imatrix rows spread; one tensor left without an entry) and compares the
// files, for the types whose weighted quantizers distill has. With an
// imatrix llama.cpp gives Q4_0's first eighth of ffn_down Q4_1 (layer 0 of
// the 8-layer d512 model) and stops giving IQ4's Q5_K; d576 sends Q3_K and
// Q2_K to the Q4_0 fallback and IQ4_XS to IQ4_NL.
func TestMatchesLlamaQuantizeWithImatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama-quantize: not in -short")
	}
	bin := llamaQuantizeBinary(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	for _, cfg := range []student.Config{quantConfigs[0], quantConfigs[3], quantConfigs[4]} { // d256 tied, d512 untied, d576 tied (Q5_0 fallbacks)
		m := randomModel(t, cfg)
		shape := fmt.Sprintf("d%d", cfg.DModel)
		src := filepath.Join(dir, shape+"-f32.gguf")
		if err := Write(src, m, Options{Type: quant.FileF32}); err != nil {
			t.Fatal(err)
		}
		imatrix := randomImatrix(cfg, rng, "blk.1.attn_k.weight")
		imPath := filepath.Join(dir, shape+"-imatrix.bin")
		writeImatrixForLlama(t, imPath, imatrix)
		for _, ft := range []quant.FileType{quant.FileQ4_K_M, quant.FileQ4_K_S, quant.FileQ5_K_M, quant.FileQ5_K_S, quant.FileQ6_K, quant.FileQ8_0,
			quant.FileQ3_K_M, quant.FileQ3_K_S, quant.FileQ2_K, quant.FileQ4_0, quant.FileIQ4_NL, quant.FileIQ4_XS} {
			name := fmt.Sprintf("%s-%s-imatrix", shape, ft)
			t.Run(name, func(t *testing.T) {
				ours := filepath.Join(dir, name+"-ours.gguf")
				theirs := filepath.Join(dir, name+"-llama.gguf")
				if err := Requantize(src, ours, ft, Options{Imatrix: imatrix}); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(bin, src, theirs, fmt.Sprint(ft.GGUFFileType()), "0", imPath)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("llama_model_quantize: %v\n%s", err, out)
				}
				compareGGUF(t, "quantize --imatrix", ours, theirs)
				// The weights matter: without them the Q4_K/Q6_K bytes differ.
				if ft != quant.FileQ8_0 {
					plain := filepath.Join(dir, name+"-plain.gguf")
					if err := Requantize(src, plain, ft, Options{}); err != nil {
						t.Fatal(err)
					}
					if sameFile(t, plain, ours) {
						t.Errorf("%s: the importance matrix changed nothing", name)
					}
				}
			})
		}
	}
}

// randomImatrix gives every 2-D tensor but token_embd (a lookup: llama.cpp
// has no imatrix entry for it) and the skip one log-normal importance
// weights per column, as real imatrix rows spread.
func randomImatrix(cfg student.Config, rng *rand.Rand, skip string) map[string][]float32 {
	imatrix := map[string][]float32{}
	for _, p := range PlanShapes(cfg, Options{Type: quant.FileF32}) {
		if len(p.Dims) != 2 || p.Name == "token_embd.weight" || p.Name == skip {
			continue
		}
		w := make([]float32, p.Dims[0])
		for i := range w {
			w[i] = float32(math.Exp(rng.NormFloat64() * 1.5))
		}
		imatrix[p.Name] = w
	}
	return imatrix
}

// writeImatrixForLlama writes importance weights in the format the
// llama_model_quantize caller reads (llamaQuantizeC's readImatrix), entries
// in name order.
func writeImatrixForLlama(t testing.TB, path string, imatrix map[string][]float32) {
	t.Helper()
	names := slices.Sorted(maps.Keys(imatrix))
	var dump bytes.Buffer
	binary.Write(&dump, binary.LittleEndian, uint32(len(names)))
	for _, n := range names {
		binary.Write(&dump, binary.LittleEndian, uint32(len(n)))
		dump.WriteString(n)
		binary.Write(&dump, binary.LittleEndian, uint32(len(imatrix[n])))
		binary.Write(&dump, binary.LittleEndian, imatrix[n])
	}
	if err := os.WriteFile(path, dump.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func compareGGUF(t *testing.T, name, oursPath, theirsPath string) {
	t.Helper()
	ours, err := gguf.Open(oursPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ours.Close()
	theirs, err := gguf.Open(theirsPath)
	if err != nil {
		t.Fatalf("%s: reading llama.cpp's file: %v", name, err)
	}
	defer theirs.Close()
	if len(ours.Tensors) != len(theirs.Tensors) {
		t.Errorf("%s: %d tensors, llama.cpp wrote %d", name, len(ours.Tensors), len(theirs.Tensors))
	}
	for _, lt := range theirs.Tensors {
		ot, ok := ours.Tensor(lt.Name)
		if !ok {
			t.Errorf("%s: llama.cpp has tensor %s, we do not", name, lt.Name)
			continue
		}
		if ot.Type != lt.Type || fmt.Sprint(ot.Dims) != fmt.Sprint(lt.Dims) {
			t.Errorf("%s: %s is %s %v here, %s %v in llama.cpp's file", name, lt.Name, ot.Type, ot.Dims, lt.Type, lt.Dims)
			continue
		}
		a, _ := ours.TensorData(lt.Name)
		b, _ := theirs.TensorData(lt.Name)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: %s (%s): bytes differ from llama.cpp's", name, lt.Name, lt.Type)
		}
	}
	for _, kv := range theirs.KVs {
		v, ok := ours.KV(kv.Key)
		if !ok || v.Type() != kv.Value.Type() || v.String() != kv.Value.String() {
			t.Errorf("%s: llama.cpp wrote %s = %s, ours %s", name, kv.Key, kv.Value, v)
		}
	}
	// The same keys and tensors in the same order and layout: the same file.
	if !t.Failed() && !sameFile(t, oursPath, theirsPath) {
		t.Errorf("%s: every tensor and value equal llama.cpp's, the files differ (key or tensor order, layout)", name)
	}
}
