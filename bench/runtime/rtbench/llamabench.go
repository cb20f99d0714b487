package rtbench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// LlamaBenchTest is one test record of `llama-bench -o json` (the fields
// this package reads; llama-bench prints more).
type LlamaBenchTest struct {
	BuildCommit string    `json:"build_commit"`
	BuildNumber int       `json:"build_number"`
	CPUInfo     string    `json:"cpu_info"`
	Backends    string    `json:"backends"`
	ModelFile   string    `json:"model_filename"`
	ModelType   string    `json:"model_type"`
	ModelSize   int64     `json:"model_size"`
	NParams     int64     `json:"model_n_params"`
	NBatch      int       `json:"n_batch"`
	NUBatch     int       `json:"n_ubatch"`
	NThreads    int       `json:"n_threads"`
	TypeK       string    `json:"type_k"`
	TypeV       string    `json:"type_v"`
	FlashAttn   int       `json:"flash_attn"`
	NPrompt     int       `json:"n_prompt"`
	NGen        int       `json:"n_gen"`
	NDepth      int       `json:"n_depth"`
	AvgNs       int64     `json:"avg_ns"`
	AvgTs       float64   `json:"avg_ts"`
	SamplesNs   []int64   `json:"samples_ns"`
	SamplesTs   []float64 `json:"samples_ts"`
}

// BestTokS is the throughput of the fastest repetition: (n_prompt + n_gen)
// tokens over the smallest sample.
func (t LlamaBenchTest) BestTokS() float64 {
	best := int64(0)
	for _, ns := range t.SamplesNs {
		if ns > 0 && (best == 0 || ns < best) {
			best = ns
		}
	}
	if best == 0 {
		return 0
	}
	return float64(t.NPrompt+t.NGen) / (float64(best) / 1e9)
}

// ParseLlamaBench decodes llama-bench's JSON output (`-o json`: an array of
// test records) and checks each record: token counts not negative, at least
// one timing sample, every sample positive.
func ParseLlamaBench(data []byte) ([]LlamaBenchTest, error) {
	var tests []LlamaBenchTest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&tests); err != nil {
		return nil, fmt.Errorf("parse llama-bench JSON: %w", err)
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("parse llama-bench JSON: no test records")
	}
	for i, t := range tests {
		if t.NPrompt < 0 || t.NGen < 0 || t.NPrompt+t.NGen == 0 {
			return nil, fmt.Errorf("llama-bench JSON record %d: bad token counts n_prompt=%d n_gen=%d", i, t.NPrompt, t.NGen)
		}
		if len(t.SamplesNs) == 0 {
			return nil, fmt.Errorf("llama-bench JSON record %d (pp%d tg%d): no samples_ns", i, t.NPrompt, t.NGen)
		}
		for j, ns := range t.SamplesNs {
			if ns <= 0 {
				return nil, fmt.Errorf("llama-bench JSON record %d (pp%d tg%d): samples_ns[%d] = %d", i, t.NPrompt, t.NGen, j, ns)
			}
		}
	}
	return tests, nil
}

// LlamaBenchResult is one llama-bench run on one file: its prompt test
// (pp<P>) and its generation test (tg<N>).
type LlamaBenchResult struct {
	Prompt, Decode LlamaBenchTest
	// CPUSeconds is the whole process's user+system time: load, warm-ups
	// and every repetition of both tests.
	CPUSeconds float64
	Wall       time.Duration
}

// Figures are the best-repetition throughputs.
func (r *LlamaBenchResult) Figures() Figures {
	return Figures{PromptTokS: r.Prompt.BestTokS(), DecodeTokS: r.Decode.BestTokS(), CPUSeconds: r.CPUSeconds}
}

// SelectTests picks the pp<prompt> and tg<decode> records (depth 0) out of
// llama-bench's output.
func SelectTests(tests []LlamaBenchTest, prompt, decode int) (pp, tg LlamaBenchTest, err error) {
	var havePP, haveTG bool
	for _, t := range tests {
		switch {
		case t.NDepth == 0 && t.NPrompt == prompt && t.NGen == 0:
			pp, havePP = t, true
		case t.NDepth == 0 && t.NPrompt == 0 && t.NGen == decode:
			tg, haveTG = t, true
		}
	}
	if !havePP || !haveTG {
		return pp, tg, fmt.Errorf("llama-bench output lacks pp%d (found: %v) or tg%d (found: %v)", prompt, havePP, decode, haveTG)
	}
	return pp, tg, nil
}

// RunLlamaBench runs `llama-bench -m model -t threads -p prompt -n decode
// -r reps -o json` and returns its pp and tg records and its CPU time.
func RunLlamaBench(bin, model string, threads, prompt, decode, reps int) (*LlamaBenchResult, error) {
	args := []string{"-m", model, "-t", strconv.Itoa(threads), "-p", strconv.Itoa(prompt), "-n", strconv.Itoa(decode),
		"-r", strconv.Itoa(reps), "-o", "json"}
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %v: %w\n%s", bin, args, err, tailString(errb.String(), 3000))
	}
	res := &LlamaBenchResult{Wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		res.CPUSeconds = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	tests, err := ParseLlamaBench(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("llama-bench on %s: %w", model, err)
	}
	if res.Prompt, res.Decode, err = SelectTests(tests, prompt, decode); err != nil {
		return nil, fmt.Errorf("llama-bench on %s: %w", model, err)
	}
	return res, nil
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
