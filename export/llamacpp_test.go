package export

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/testpeers"
	"github.com/distill-ml/distill/model/student"
)

// loadScript loads each GGUF given on the command line with llama.cpp (via
// node-llama-cpp, CPU only, tensor data checks on), tokenizes a text, and
// greedily generates a few tokens; it prints one JSON line per file with any
// error and the warnings/errors llama.cpp logged.
const loadScript = `
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
let logs = [];
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true,
  logLevel: LlamaLogLevel.warn, logger: (level, message) => logs.push(level + ": " + message.trim()) });
for (const modelPath of process.argv.slice(2)) {
  logs = [];
  const out = { path: modelPath };
  try {
    const model = await llama.loadModel({ modelPath, checkTensors: true });
    out.trainContextSize = model.trainContextSize;
    const tokens = model.tokenize("the cat sat on the mat");
    out.tokens = Array.from(tokens);
    out.detok = model.detokenize(tokens);
    const context = await model.createContext({ contextSize: 64, threads: 1 });
    const seq = context.getSequence();
    const gen = [];
    for await (const t of seq.evaluate(tokens, { temperature: 0 })) {
      gen.push(t);
      if (gen.length >= 4) break;
    }
    out.generated = gen;
    await context.dispose();
    await model.dispose();
  } catch (e) {
    out.error = String(e && e.message || e);
  }
  out.logs = logs;
  console.log(JSON.stringify(out));
}
`

type loadResult struct {
	Path             string   `json:"path"`
	Error            string   `json:"error"`
	Logs             []string `json:"logs"`
	Tokens           []int    `json:"tokens"`
	Detok            string   `json:"detok"`
	Generated        []int    `json:"generated"`
	TrainContextSize int      `json:"trainContextSize"`
}

// TestLlamaCppLoadsEveryType exports random-weight students in every file
// type — one with k-quant-friendly widths, one with width 96, shared blocks
// and an untied output (fallback types) — plus a requantized file, and has
// llama.cpp load each with its tensor checks on.
func TestLlamaCppLoadsEveryType(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with llama.cpp: not in -short")
	}
	testpeers.NodeModules(t, "node-llama-cpp")
	dir := t.TempDir()
	var paths []string
	for _, cfg := range cfgsForPeer() {
		m := randomModel(t, cfg)
		for _, name := range quant.FileTypeNames() {
			ft, _ := quant.ParseFileType(name)
			p := filepath.Join(dir, fmt.Sprintf("d%d-%s.gguf", cfg.DModel, name))
			if err := Write(p, m, Options{Type: ft}); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
	}
	re := filepath.Join(dir, "d256-requantized-q4_k_m.gguf")
	if err := Requantize(filepath.Join(dir, "d256-f16.gguf"), re, quant.FileQ4_K_M, Options{}); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, re)

	out := testpeers.RunNode(t, "node-llama-cpp", loadScript, nil, paths...)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("%d results for %d files:\n%s", len(lines), len(paths), out)
	}
	for i, line := range lines {
		var r loadResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		name := filepath.Base(paths[i])
		if r.Error != "" {
			t.Errorf("%s: llama.cpp failed: %s\nlogs:\n%s", name, r.Error, strings.Join(r.Logs, "\n"))
			continue
		}
		for _, l := range r.Logs {
			// Warnings about the tokenizer or tensors mean the file is not what
			// llama.cpp expects even though it loaded.
			if strings.HasPrefix(l, "error") || strings.Contains(l, "tokenizer") || strings.Contains(l, "tensor") {
				t.Errorf("%s: llama.cpp logged %q", name, l)
			}
		}
		if r.Detok != "the cat sat on the mat" || len(r.Tokens) == 0 {
			t.Errorf("%s: tokenize/detokenize round trip gave %q (tokens %v)", name, r.Detok, r.Tokens)
		}
		if len(r.Generated) != 4 {
			t.Errorf("%s: generated %v", name, r.Generated)
		}
		t.Logf("%s: %d prompt tokens, greedy %v", name, len(r.Tokens), r.Generated)
	}
}

func cfgsForPeer() []student.Config { return []student.Config{cfgK, cfgOdd} }
