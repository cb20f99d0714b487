package rtbench

import (
	"fmt"
	"os"
	"time"

	"github.com/distill-ml/distill/internal/sysmem"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/num/parallel"
)

// OursResult is one measurement of our runtime on one file.
type OursResult struct {
	PromptBest, DecodeBest     time.Duration // fastest repetition of each test
	PromptTokens, DecodeTokens int
	// CPUSeconds is this process's user+system time from before Load to
	// after the last repetition: load, warm-ups and every repetition (the
	// same work llama-bench's process does).
	CPUSeconds float64
	// RSSGrowth is the resident set growth from before Load to after the
	// run (mapped weights touched, KV cache, scratch).
	RSSGrowth int64
	FileBytes int64
	KVBytes   int64
	Types     map[string]int // tensors per storage type
	HugePages bool           // the weights were copied to huge pages (infer.Options.HugePages), not mmapped
}

// Figures are the best-repetition throughputs.
func (r *OursResult) Figures() Figures {
	return Figures{
		PromptTokS: float64(r.PromptTokens) / r.PromptBest.Seconds(),
		DecodeTokS: float64(r.DecodeTokens) / r.DecodeBest.Seconds(),
		CPUSeconds: r.CPUSeconds,
	}
}

// RSSRatio is RSS growth over file size plus KV cache (the runtime's memory
// budget is that plus 30%).
func (r *OursResult) RSSRatio() float64 {
	if r.FileBytes+r.KVBytes == 0 {
		return 0
	}
	return float64(r.RSSGrowth) / float64(r.FileBytes+r.KVBytes)
}

// MeasureOurs loads path with a pool of threads and runs llama-bench's
// protocol: a warm-up prompt, reps prompts of prompt tokens on an empty
// context; a one-token warm-up, reps runs of decode single-token steps on an
// empty context (each step's greedy token feeds the next). The fastest
// repetition of each counts. Loading is excluded from the times. hugePages
// loads with infer.Options.HugePages (the weights copied into anonymous
// memory on transparent huge pages) instead of mapping the file.
func MeasureOurs(path string, threads, prompt, decode, reps int, hugePages bool) (*OursResult, error) {
	if prompt < 1 || decode < 1 || reps < 1 || threads < 1 {
		return nil, fmt.Errorf("measure %s: prompt %d, decode %d, reps %d, threads %d must be ≥ 1", path, prompt, decode, reps, threads)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	rss0 := RSSBytes()
	cpu0 := sysmem.CPUTime().Seconds()
	pool := parallel.New(threads)
	defer pool.Close()
	m, err := infer.Load(path, infer.Options{Pool: pool, HugePages: hugePages})
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	defer m.Close()
	res := &OursResult{PromptTokens: prompt, DecodeTokens: decode, FileBytes: st.Size(), Types: m.Types, HugePages: hugePages,
		PromptBest: time.Duration(1<<63 - 1), DecodeBest: time.Duration(1<<63 - 1)}
	vocab := m.Hyper.VocabSize
	tokens := make([]int32, prompt)
	for i := range tokens {
		tokens[i] = int32(2 + (i*7919)%(vocab-2))
	}
	s := m.NewSession(prompt + decode)
	evalPrompt := func() (time.Duration, error) {
		s.Reset()
		t0 := time.Now()
		_, err := s.Eval(tokens)
		return time.Since(t0), err
	}
	evalDecode := func(n int) (time.Duration, error) {
		s.Reset()
		tok := tokens[0]
		t0 := time.Now()
		for i := 0; i < n; i++ {
			lg, err := s.Eval([]int32{tok})
			if err != nil {
				return 0, err
			}
			tok = infer.Argmax(lg)
		}
		return time.Since(t0), nil
	}
	if _, err := evalPrompt(); err != nil { // warm-up
		return nil, fmt.Errorf("measure %s: prompt: %w", path, err)
	}
	for r := 0; r < reps; r++ {
		d, err := evalPrompt()
		if err != nil {
			return nil, fmt.Errorf("measure %s: prompt: %w", path, err)
		}
		res.PromptBest = min(res.PromptBest, d)
	}
	if _, err := evalDecode(1); err != nil { // warm-up
		return nil, fmt.Errorf("measure %s: decode: %w", path, err)
	}
	for r := 0; r < reps; r++ {
		d, err := evalDecode(decode)
		if err != nil {
			return nil, fmt.Errorf("measure %s: decode: %w", path, err)
		}
		res.DecodeBest = min(res.DecodeBest, d)
	}
	res.KVBytes = s.KVCacheBytes() // the cache grows as it is used: read it after the runs
	res.CPUSeconds = sysmem.CPUTime().Seconds() - cpu0
	res.RSSGrowth = RSSBytes() - rss0
	return res, nil
}

// RSSBytes is this process's resident set size (VmRSS), 0 if unknown.
func RSSBytes() int64 { return sysmem.ProcStatusBytes("VmRSS") }
