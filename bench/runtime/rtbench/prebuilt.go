package rtbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// prebuiltScript runs llama-bench's protocol through node-llama-cpp's
// prebuilt CPU binary: a warm-up, then reps prompts on an empty context
// (logits of the last token requested, as llama_decode computes them) and
// reps runs of single-token decode steps on an empty context, greedy.
const prebuiltScript = `
import { getLlama } from "node-llama-cpp";
import fs from "node:fs";
const req = JSON.parse(fs.readFileSync(0, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, logLevel: "error" });
const model = await llama.loadModel({ modelPath: req.path });
const ctx = await model.createContext({ contextSize: req.prompt.length + req.decode, threads: req.threads, batchSize: 512, flashAttention: false });
const seq = ctx.getSequence();
const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
async function prompt() {
  await seq.clearHistory();
  const t0 = performance.now();
  await seq.controlledEvaluate(req.prompt.map((t, i) => i === req.prompt.length - 1 ? [t, greedy] : t));
  return performance.now() - t0;
}
async function decode(n) {
  await seq.clearHistory();
  let tok = req.prompt[0];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await seq.controlledEvaluate([[tok, greedy]]);
    tok = r[0].next.token;
  }
  return performance.now() - t0;
}
const out = { prompt_ms: [], decode_ms: [] };
await prompt();
for (let r = 0; r < req.reps; r++) out.prompt_ms.push(await prompt());
await decode(1);
for (let r = 0; r < req.reps; r++) out.decode_ms.push(await decode(req.decode));
process.stdout.write(JSON.stringify(out), () => process.exit(0));
`

// PrebuiltResult is one node-llama-cpp run on one file.
type PrebuiltResult struct {
	PromptMs, DecodeMs         []float64 // every repetition
	PromptTokens, DecodeTokens int
	// CPUSeconds is the whole node process's user+system time (start-up,
	// load, warm-ups, every repetition).
	CPUSeconds float64
}

// Figures are the best-repetition throughputs.
func (r *PrebuiltResult) Figures() Figures {
	best := func(ms []float64) float64 {
		b := ms[0]
		for _, x := range ms {
			b = min(b, x)
		}
		return b / 1e3
	}
	return Figures{
		PromptTokS: float64(r.PromptTokens) / best(r.PromptMs),
		DecodeTokS: float64(r.DecodeTokens) / best(r.DecodeMs),
		CPUSeconds: r.CPUSeconds,
	}
}

// RunPrebuilt measures model with node-llama-cpp's prebuilt binary, found in
// nodeModules (the node_modules holding node-llama-cpp and
// @node-llama-cpp/linux-x64). The prompt uses the same token ids as
// MeasureOurs.
func RunPrebuilt(nodeModules, model string, vocab, threads, prompt, decode, reps int) (*PrebuiltResult, error) {
	if _, err := os.Stat(filepath.Join(nodeModules, "node-llama-cpp", "package.json")); err != nil {
		return nil, fmt.Errorf("node-llama-cpp not installed in %s (run scripts/install-test-deps.sh): %w", nodeModules, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node not on PATH: %w", err)
	}
	// A module file inside the deps directory resolves bare imports from node_modules.
	dir, err := os.MkdirTemp(filepath.Dir(nodeModules), "rtbench-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "main.mjs")
	if err := os.WriteFile(script, []byte(prebuiltScript), 0o644); err != nil {
		return nil, err
	}
	tokens := make([]int32, prompt)
	for i := range tokens {
		tokens[i] = int32(2 + (i*7919)%(vocab-2))
	}
	in, _ := json.Marshal(map[string]any{"path": model, "threads": threads, "prompt": tokens, "decode": decode, "reps": reps})
	cmd := exec.Command(node, script)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errb
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules, "NODE_LLAMA_CPP_SKIP_DOWNLOAD=true")
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node-llama-cpp on %s: %w\n%s", model, err, tailString(errb.String(), 3000))
	}
	var raw struct {
		PromptMs []float64 `json:"prompt_ms"`
		DecodeMs []float64 `json:"decode_ms"`
	}
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		return nil, fmt.Errorf("node-llama-cpp on %s: parse output: %w: %s", model, err, tailString(out.String(), 500))
	}
	if len(raw.PromptMs) != reps || len(raw.DecodeMs) != reps {
		return nil, fmt.Errorf("node-llama-cpp on %s: %d prompt and %d decode timings, want %d each", model, len(raw.PromptMs), len(raw.DecodeMs), reps)
	}
	res := &PrebuiltResult{PromptMs: raw.PromptMs, DecodeMs: raw.DecodeMs, PromptTokens: prompt, DecodeTokens: decode}
	if ps := cmd.ProcessState; ps != nil {
		res.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return res, nil
}
