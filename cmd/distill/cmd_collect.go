package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/collect"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/model/infer"
)

func newCollectCmd(a *app) *cobra.Command {
	var (
		config string
		sets   []string
		shard  string
	)
	cmd := &cobra.Command{
		Use:   "collect --config FILE [--set key=value ...] [--shard i/N]",
		Short: "Collect permitted teacher signals (text, top-k logprobs, hidden states) into a Parquet dataset",
		Long: "Sends prompts to the configured teacher (an OpenAI-compatible endpoint or a local GGUF model)\n" +
			"under the dataset policy: rows of a class the teacher may not receive are refused before any\n" +
			"network I/O, prompts are redacted before they leave the process, and only the signals the\n" +
			"policy allows are stored. Retries 429/5xx/timeouts with backoff, honours Retry-After, and\n" +
			"records permanent failures in <out>/errors.jsonl. Killed at any moment, the same command\n" +
			"resumes and stores every prompt exactly once. --shard i/N (or /N with JOB_COMPLETION_INDEX)\n" +
			"collects a deterministic slice; `distill data merge` combines the shards.\n" +
			"Exits 1 when the shard has prompts but its dataset holds no row (every prompt failed or was\n" +
			"refused); a partial failure exits 0 and the summary counts the failed prompts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if config == "" {
				return usagef("collect needs --config FILE")
			}
			var cfg collect.Config
			if err := configs.Load(config, &cfg, sets...); err != nil {
				return err
			}
			cfg.Defaults()
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			sh, err := collect.ParseShard(shard, os.Getenv)
			if err != nil {
				return usageError{err}
			}
			pol, err := policy.Load(cfg.Policy)
			if err != nil {
				return err
			}
			tok, err := tokenizer.Load(cfg.Tokenizer)
			if err != nil {
				return err
			}
			opt := collect.Options{Config: cfg, Shard: sh, Tokenizer: tok, EOS: tok.Special().EOS, Policy: pol, Progress: a.stderr}
			switch cfg.Teacher.Kind {
			case "openai":
				if opt.Teacher, err = teacher.NewOpenAI(*cfg.Teacher.OpenAI); err != nil {
					return err
				}
			case "local":
				lc := *cfg.Teacher.Local
				m, err := engine.Load(lc.Model, infer.Options{Context: lc.Context})
				if err != nil {
					return fmt.Errorf("local teacher %s: %w", lc.Model, err)
				}
				defer m.Close()
				// The local teacher's ids are stored as student ids: the two must
				// share the tokenizer exactly.
				if m.TokenizerHash() != tok.Hash() {
					return fmt.Errorf("local teacher %s: its tokenizer (%s) is not the student's %s (%s); a local teacher must share the student's tokenizer",
						lc.Model, m.TokenizerHash(), cfg.Tokenizer, tok.Hash())
				}
				lt, err := teacher.NewLocal(lc, m.Runtime(), tok, tok.Special().EOS)
				if err != nil {
					return err
				}
				opt.Teacher, opt.HiddenLayers, opt.HiddenDim = lt, lc.HiddenLayers, lt.HiddenDim()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := collect.Run(ctx, opt)
			if sum != nil {
				printCollectSummary(a, cfg.Out, sum)
			}
			if err != nil {
				return fmt.Errorf("collect: %w", err)
			}
			return collectOutcome(cfg.Out, sum)
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "collection config (YAML)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key (key.path=value), repeatable")
	cmd.Flags().StringVar(&shard, "shard", "", "collect slice i of N (i/N; /N takes i from JOB_COMPLETION_INDEX)")
	return cmd
}

// collectOutcome decides the exit status of a collection that ran to the
// end: a shard with prompts whose dataset holds no row failed (exit 1, naming
// the failure reasons); a partial failure stores what it could and exits 0,
// its summary line counting the failed prompts.
func collectOutcome(out string, s *collect.Summary) error {
	if s.Rows > 0 || s.Prompts == 0 {
		return nil
	}
	reasons := "none recorded"
	if len(s.FailuresByReason) > 0 {
		reasons = kvList(s.FailuresByReason)
	}
	return fmt.Errorf("collect shard %s: no rows stored: %d of %d prompts failed (%s; see %s)",
		s.Shard, s.Failed, s.Prompts, reasons, filepath.Join(out, collect.ErrorsFile))
}

func printCollectSummary(a *app, out string, s *collect.Summary) {
	fmt.Fprintf(a.stdout, "collect shard %s: %d prompts (%d settled earlier): %d rows stored (%d with teacher top-k, %d CE-only), %d tokens, %d failed\n",
		s.Shard, s.Prompts, s.AlreadySettled, s.Rows, s.TeacherRows, s.CEOnlyRows, s.Tokens, s.Failed)
	fmt.Fprintf(a.stdout, "  bytes/token %.1f, redactions %d, %.1fs\n", s.BytesPerToken, s.Redactions, s.Seconds)
	if len(s.Retries) > 0 {
		fmt.Fprintf(a.stdout, "  retries: %s\n", kvList(s.Retries))
	}
	if len(s.FailuresByReason) > 0 {
		fmt.Fprintf(a.stdout, "  failures: %s (see %s/errors.jsonl)\n", kvList(s.FailuresByReason), out)
	}
	if len(s.CEOnlyReasons) > 0 {
		fmt.Fprintf(a.stdout, "  CE-only rows: %s\n", kvList(s.CEOnlyReasons))
	}
	for _, n := range s.Notes {
		fmt.Fprintf(a.stdout, "  note: %s\n", n)
	}
	if !s.Complete {
		fmt.Fprintf(a.stdout, "  incomplete: run the same command again to resume\n")
	}
	fmt.Fprintf(a.stdout, "dataset %s/%s\n", out, collect.DatasetDir)
}

func kvList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
