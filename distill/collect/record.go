package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"time"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/ratelimit"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/policy"
)

// askOne sends one prompt to the teacher with rate limiting and retries, and
// builds its dataset record.
func askOne(ctx context.Context, cfg *Config, opt *Options, meta dataset.Meta, lim *ratelimit.Limiter, rp retry.Policy, rng *rand.Rand, p Prompt, onRetry func(*retry.Error)) result {
	prompt, n1 := opt.Policy.Redact(p.Prompt)
	ref, n2 := opt.Policy.Redact(p.Completion)
	req := teacher.Request{ID: p.ID, Prompt: prompt, Reference: ref, System: cfg.Sampling.System, MaxTokens: cfg.Sampling.MaxTokens,
		Temperature: cfg.Sampling.Temperature, TopP: cfg.Sampling.TopP, Seed: cfg.Sampling.Seed, Stop: cfg.Sampling.Stop}
	if meta.TopK > 0 {
		req.TopLogprobs, req.KDTemperature = meta.TopK, meta.TailTemperature
	}
	estimate := len(prompt)/4 + cfg.Sampling.MaxTokens
	var resp *teacher.Response
	err := rp.Do(ctx, rng, func(ctx context.Context) error {
		if err := lim.Wait(ctx, estimate); err != nil {
			return retry.Permanent("exceeds_tokens_per_minute", err)
		}
		r, err := opt.Teacher.Complete(ctx, req)
		if err != nil {
			return err
		}
		lim.Adjust(estimate, r.PromptTokens+r.CompletionTokens)
		resp = r
		return nil
	}, func(e *retry.Error, _ time.Duration) { onRetry(e) })
	if err != nil {
		return result{p: p, fail: retry.Classify(err)}
	}
	rec, ceReason, err := buildRecord(opt, meta, p, prompt, resp)
	if err != nil {
		return result{p: p, fail: retry.Permanent("bad_row", err)}
	}
	return result{p: p, rec: rec, ceReason: ceReason, redacted: n1 + n2}
}

// buildRecord maps a teacher response to a dataset row. Rows whose teacher
// signals cannot be stored exactly become text-only, with the reason.
func buildRecord(opt *Options, meta dataset.Meta, p Prompt, prompt string, resp *teacher.Response) (*dataset.Record, string, error) {
	rec := &dataset.Record{Split: p.Split, Source: p.Source, Teacher: opt.Teacher.Name(), Prompt: prompt, Completion: resp.Text}
	prov := map[string]any{"class": p.Class, "finish_reason": resp.FinishReason, "prompt_id": p.ID}
	promptIDs := resp.PromptIDs
	if !resp.IDs {
		promptIDs = opt.Tokenizer.Encode(prompt)
	}
	if len(promptIDs) == 0 {
		return nil, "", errors.New("prompt encodes to no tokens")
	}
	storeLogprobs := meta.TopK > 0 && opt.Policy.CheckStore(p.Class, policy.SignalLogprobs) == nil
	k := meta.TopK
	var compIDs, topIDs []int32
	var topLPs, tails, tailsT []float32
	ceReason := ""
	if storeLogprobs {
		n := len(resp.Positions)
		compIDs = make([]int32, 0, n)
		topIDs = make([]int32, 0, n*k)
		topLPs = make([]float32, 0, n*k)
		tails = make([]float32, 0, n)
		mapID := func(a teacher.Alt) (int32, bool) {
			if resp.IDs {
				return a.ID, a.ID >= 0 && int(a.ID) < meta.VocabSize
			}
			return opt.Tokenizer.IDForBytes(a.RawBytes())
		}
		for i, pos := range resp.Positions {
			id, ok := mapID(pos.Alt)
			if !ok {
				ceReason = "unmappable_token"
				break
			}
			if len(pos.Top) < k {
				ceReason = "short_top_logprobs"
				break
			}
			mass := 0.0
			for _, a := range pos.Top[:k] {
				aid, ok := mapID(a)
				if !ok {
					ceReason = "unmappable_token"
					break
				}
				topIDs = append(topIDs, aid)
				topLPs = append(topLPs, float32(a.Logprob))
				mass += math.Exp(a.Logprob)
			}
			if ceReason != "" {
				break
			}
			tail := 1 - mass
			if resp.TailMass != nil {
				tail = resp.TailMass[i]
			}
			tails = append(tails, float32(math.Min(1, math.Max(0, tail))))
			if meta.TailTemperature > 0 {
				if len(resp.TailTempered) != len(resp.Positions) {
					return nil, "", fmt.Errorf("the dataset stores tails tempered at %g, the teacher returned %d for %d positions", meta.TailTemperature, len(resp.TailTempered), len(resp.Positions))
				}
				tailsT = append(tailsT, float32(math.Min(1, math.Max(0, resp.TailTempered[i]))))
			}
			compIDs = append(compIDs, id)
		}
		if ceReason == "" && len(compIDs) == 0 {
			ceReason = "empty_completion"
		}
	} else if meta.TopK > 0 {
		ceReason = "policy_no_logprobs"
	}
	if !storeLogprobs || ceReason != "" {
		// Text-only row: the completion as the student tokenizes it.
		if resp.IDs && ceReason == "" {
			compIDs = compIDs[:0]
			for _, pos := range resp.Positions {
				compIDs = append(compIDs, pos.ID)
			}
		} else {
			compIDs = opt.Tokenizer.Encode(resp.Text)
			if opt.EOS >= 0 && resp.FinishReason == "stop" {
				compIDs = append(compIDs, opt.EOS)
			}
		}
		topIDs, topLPs, tails, tailsT = nil, nil, nil, nil
	}
	if len(compIDs) == 0 {
		return nil, "", errors.New("the teacher's completion is empty")
	}
	rec.Tokens = append(append([]int32{}, promptIDs...), compIDs...)
	rec.PromptLen = len(promptIDs)
	if topIDs != nil {
		rec.TopKIDs, rec.TopKLogprobs, rec.TailMass, rec.TailTempered = topIDs, topLPs, tails, tailsT
		if len(meta.HiddenLayers) > 0 {
			if len(resp.Hidden) != len(meta.HiddenLayers) || resp.HiddenDim != meta.HiddenDim {
				return nil, "", fmt.Errorf("teacher returned %d hidden layers of width %d, dataset declares %d of %d", len(resp.Hidden), resp.HiddenDim, len(meta.HiddenLayers), meta.HiddenDim)
			}
			rec.Hidden = resp.Hidden
		}
	}
	if ceReason != "" {
		prov["ce_only"] = ceReason
	}
	pb, _ := json.Marshal(prov)
	rec.Provenance = string(pb)
	return rec, ceReason, nil
}
