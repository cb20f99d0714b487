package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/model/infer"
	"github.com/distill-ml/distill/num/parallel"
	"github.com/spf13/cobra"
)

// runtimeOptions builds the runtime options shared by generate and eval;
// ctx is --ctx, the sessions' context cap (0: the model's, up to
// infer.DefaultContext).
func runtimeOptions(threads int, exact bool, ctx int) infer.Options {
	opts := infer.Options{ExactPrompt: exact, Context: ctx}
	if threads > 0 {
		opts.Pool = parallel.New(threads)
	}
	return opts
}

// exactFlagHelp describes --exact (infer.Options.ExactPrompt).
const exactFlagHelp = "llama.cpp's arithmetic for prompts of any length (logits bit-identical to llama.cpp's; prompts of 32+ tokens 1.5-2.6x slower)"

// newGenerateCmd is `distill generate`: stream a completion from a GGUF model
// with distill's own runtime.
func newGenerateCmd(a *app) *cobra.Command {
	var (
		model, prompt string
		maxTokens     int
		ctxLen        int
		threads       int
		exact         bool
		noBOS         bool
		ignoreEOS     bool
		stop          []string
		smp           infer.SamplerConfig
	)
	c := &cobra.Command{
		Use:   "generate --model x.gguf --prompt TEXT [--max-tokens N --temperature T --top-k K --top-p P --seed S --stop STR]",
		Short: "Generate text from a llama GGUF model with distill's pure-Go runtime (streams to stdout)",
		Long: "Loads a llama-architecture GGUF (F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K or a mix),\n" +
			"tokenizes the prompt with the tokenizer embedded in the file, and streams the completion\n" +
			"to stdout. --temperature 0 is greedy. Generation ends at --max-tokens, at the end-of-sequence\n" +
			"token, or at the first --stop string (not printed). Timing goes to stderr.\n" +
			"--prompt - reads the prompt from stdin.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" {
				return usagef("generate: --model FILE is required")
			}
			if !cmd.Flags().Changed("prompt") {
				return usagef("generate: --prompt TEXT is required (use - for stdin)")
			}
			if maxTokens <= 0 {
				return usagef("generate: --max-tokens must be > 0, got %d", maxTokens)
			}
			if ctxLen < 0 {
				return usagef("generate: --ctx must be >= 0, got %d", ctxLen)
			}
			if err := smp.Validate(); err != nil {
				return usagef("generate: %v", err)
			}
			for _, s := range stop {
				if s == "" {
					return usagef("generate: --stop must not be empty")
				}
			}
			if prompt == "-" {
				b, err := io.ReadAll(os.Stdin)
				if err != nil {
					return fmt.Errorf("generate: read prompt from stdin: %w", err)
				}
				prompt = string(b)
			}
			var o []engine.Option
			if noBOS {
				o = append(o, engine.WithoutBOS())
			}
			em, err := engine.Load(model, runtimeOptions(threads, exact, ctxLen), o...)
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			defer em.Close()
			m, ids := em.Runtime(), em.Tokenize(prompt)
			if len(ids) == 0 {
				return usagef("generate: the prompt is empty")
			}
			if len(ids) >= m.ContextLength() {
				return fmt.Errorf("generate: prompt of %d tokens does not fit the context of %d (--ctx; the model's llama.context_length is %d)",
					len(ids), m.ContextLength(), m.Hyper.ContextLength)
			}
			// The session's cache grows with the tokens, up to the cap.
			sess := m.NewSession(min(m.ContextLength(), len(ids)+maxTokens))
			start := time.Now()
			var firstTok time.Time
			res, err := sess.Generate(ids, infer.GenerateOptions{
				MaxTokens: maxTokens, Sampler: smp, Stop: stop, IgnoreEOS: ignoreEOS,
				OnText: func(text []byte) error {
					if firstTok.IsZero() {
						firstTok = time.Now()
					}
					_, err := a.stdout.Write(text)
					return err
				},
			})
			if err != nil {
				return fmt.Errorf("generate: %w", err)
			}
			total := time.Since(start)
			fmt.Fprintln(a.stdout)
			fmt.Fprintf(a.stderr, "generate: %d prompt tokens, %d generated (%s) in %.2fs", len(ids), len(res.Tokens), res.StopReason, total.Seconds())
			if n := len(res.Tokens); n > 1 && !firstTok.IsZero() {
				fmt.Fprintf(a.stderr, "; first token after %.0f ms, %.1f tok/s after it", float64(firstTok.Sub(start).Microseconds())/1e3,
					float64(n-1)/time.Since(firstTok).Seconds())
			}
			fmt.Fprintln(a.stderr)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&model, "model", "", "GGUF model file")
	f.StringVar(&prompt, "prompt", "", "prompt text (- reads stdin)")
	f.IntVar(&maxTokens, "max-tokens", 128, "maximum tokens to generate")
	f.Float64Var(&smp.Temperature, "temperature", 0.8, "sampling temperature (0 = greedy)")
	f.IntVar(&smp.TopK, "top-k", 40, "keep the K most likely tokens (0 = all)")
	f.Float64Var(&smp.TopP, "top-p", 0.95, "keep the smallest set with this total probability (1 = all)")
	f.Int64Var(&smp.Seed, "seed", 0, "random seed for sampling")
	f.StringArrayVar(&stop, "stop", nil, "stop string (repeatable); not included in the output")
	f.IntVar(&ctxLen, "ctx", 0, fmt.Sprintf("context length cap in tokens (default: the model's, up to %d; the cache holds prompt + max tokens at most)", infer.DefaultContext))
	f.IntVar(&threads, "threads", 0, "compute threads (default GOMAXPROCS)")
	f.BoolVar(&exact, "exact", false, exactFlagHelp)
	f.BoolVar(&noBOS, "no-bos", false, "do not prepend BOS even if the model asks for it")
	f.BoolVar(&ignoreEOS, "ignore-eos", false, "keep generating past the end-of-sequence token")
	return c
}
