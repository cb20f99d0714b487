package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/distill/train"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/distill-ml/distill/model/student"
)

func newModelCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Inspect student architectures; import pretrained models",
	}
	cmd.AddCommand(newModelInfoCmd(a), newModelImportCmd(a))
	return cmd
}

// newModelImportCmd is `distill model import`: a Hugging Face directory or
// a GGUF → a distill checkpoint (step 0, no optimizer state).
func newModelImportCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "import SRC --out DIR",
		Short: "Import a pretrained llama/qwen2/qwen3 model (Hugging Face directory or GGUF) as a checkpoint",
		Long: "Reads SRC — a Hugging Face model directory (config.json, model.safetensors or sharded\n" +
			"model-*.safetensors with model.safetensors.index.json, tokenizer.json) or a GGUF file (any\n" +
			"tensor type, dequantized to F32; its tokenizer rebuilt from tokenizer.ggml.*) — and writes\n" +
			"DIR/step-00000000, a checkpoint that `init:` and `distill export` read.\n" +
			"Architectures: " + strings.Join(student.SupportedArchs, ", ") + ". `init: SRC` in a training config\n" +
			"reads SRC directly, without this step.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("model import: --out DIR is required")
			}
			src := args[0]
			if !checkpoint.IsPretrainedSource(src) {
				return fmt.Errorf("model import: %s is neither a Hugging Face model directory (config.json with model_type) nor a .gguf file", src)
			}
			p, err := checkpoint.OpenPretrained(src)
			if err != nil {
				return fmt.Errorf("model import: %w", err)
			}
			tok, err := p.LoadTokenizer()
			if err != nil {
				return fmt.Errorf("model import: %w", err)
			}
			dir, err := checkpoint.SaveImported(out, p, tok)
			if err != nil {
				return fmt.Errorf("model import: %w", err)
			}
			c := p.Config
			fmt.Fprintf(a.stdout, "model import: wrote %s (%s, %d blocks, d_model %d, %s parameters, tokenizer %s)\n",
				dir, c.ArchName(), c.NLayers, c.DModel, humanCount(c.ParamCount()), tok.Hash()[:12])
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "checkpoints root to write step-00000000 into")
	return cmd
}

func newModelInfoCmd(a *app) *cobra.Command {
	var (
		config    string
		sets      []string
		vocab     int
		tokenizer string
		seqLen    int
		quantType string
		pure      bool
		budgetMB  float64
	)
	cmd := &cobra.Command{
		Use:   "info [--config FILE|PRESET]",
		Short: "Print a student's parameters, FLOPs/token and KV-cache bytes/token",
		Long: "Print a student's parameter count, forward FLOPs per token and KV-cache bytes per token.\n" +
			"--config takes a student architecture (preset: tiny, mobilellm-125m, mobilellm-350m, or a YAML\n" +
			"file), a training config (its model is used), or a pretrained model (a Hugging Face directory\n" +
			"or a .gguf file). Presets leave vocab_size to the tokenizer: give\n" +
			"--tokenizer or --vocab, otherwise 32000 is assumed and said so.\n" +
			"--quant TYPE (a distill quantize type, e.g. q4_k_m) adds the type llama-quantize's mix gives\n" +
			"each tensor, bits/weight, tensor-data size and KV bytes/token, and warns on fallbacks.\n" +
			"--budget-mb N --quant TYPE lists the student presets whose tensor data fits N MiB.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var qopt export.Options
			if quantType != "" {
				ft, err := quant.ParseFileType(quantType)
				if err != nil {
					return usagef("model info: --quant: %v", err)
				}
				qopt = export.Options{Type: ft, Pure: pure}
			}
			if budgetMB != 0 {
				if quantType == "" || budgetMB < 0 || len(args) > 0 || config != "" {
					return usagef("model info: --budget-mb N needs --quant TYPE and no config (it lists the presets)")
				}
				v, note := vocab, "from --vocab"
				if tokenizer != "" {
					var err error
					if v, err = tokenizerVocab(tokenizer); err != nil {
						return err
					}
					note = "from " + tokenizer
				} else if v == 0 {
					v, note = 32000, "assumed; pass --tokenizer or --vocab"
				}
				return printBudget(a, int64(budgetMB*(1<<20)), v, note, qopt)
			}
			if len(args) == 1 {
				if config != "" {
					return usagef("give the config either as --config or as an argument, not both")
				}
				config = args[0]
			}
			if config == "" {
				return usagef("model info needs --config FILE|PRESET")
			}
			if vocab < 0 || seqLen < 0 {
				return usagef("--vocab and --seq-len must be >= 0")
			}
			s, trainSeq, err := resolveStudentForInfo(config, sets)
			if err != nil {
				return err
			}
			vocabNote := "from the config"
			switch {
			case tokenizer != "":
				v, err := tokenizerVocab(tokenizer)
				if err != nil {
					return err
				}
				if s.VocabSize != 0 && s.VocabSize != v {
					return fmt.Errorf("config vocab_size %d differs from tokenizer %s (%d)", s.VocabSize, tokenizer, v)
				}
				s.VocabSize, vocabNote = v, "from "+tokenizer
			case vocab > 0:
				s.VocabSize, vocabNote = vocab, "from --vocab"
			case s.VocabSize == 0:
				s.VocabSize, vocabNote = 32000, "assumed; pass --tokenizer or --vocab"
			}
			if err := s.Validate(); err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			if seqLen == 0 {
				seqLen = trainSeq
			}
			if seqLen == 0 {
				seqLen = s.ContextLength
			}
			printModelInfo(a, config, s, vocabNote, seqLen)
			if quantType != "" {
				printQuantInfo(a, s, qopt)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "student preset or file, or a training config")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key (key.path=value), repeatable")
	cmd.Flags().IntVar(&vocab, "vocab", 0, "vocabulary size when the config leaves it to the tokenizer")
	cmd.Flags().StringVar(&tokenizer, "tokenizer", "", "tokenizer.json whose vocabulary size to use")
	cmd.Flags().StringVar(&quantType, "quant", "", "also show the tensor types, size and bits/weight of this quantize type (e.g. q4_k_m)")
	cmd.Flags().BoolVar(&pure, "pure", false, "with --quant: llama-quantize --pure (every tensor the base type)")
	cmd.Flags().Float64Var(&budgetMB, "budget-mb", 0, "with --quant: list the presets whose tensor data fits this many MiB")
	cmd.Flags().IntVar(&seqLen, "seq-len", 0, "sequence position for the attention FLOPs (default: train.seq_len or context_length)")
	return cmd
}

// resolveStudentForInfo returns the architecture (vocab may be 0) and, for a
// training config, its seq_len.
func resolveStudentForInfo(config string, sets []string) (student.Config, int, error) {
	if checkpoint.IsPretrainedSource(config) {
		if len(sets) > 0 {
			return student.Config{}, 0, usagef("model info: --set does not apply to a pretrained model (%s)", config)
		}
		s, err := checkpoint.PretrainedConfig(config)
		return s, 0, err
	}
	isTrain, err := train.IsTrainingConfig(config)
	if err != nil {
		return student.Config{}, 0, err
	}
	if !isTrain {
		s, err := train.LoadStudent(config, sets...)
		return s, 0, err
	}
	tc, err := train.Load(config, sets...)
	if err != nil {
		return student.Config{}, 0, err
	}
	if tc.Student != nil {
		return *tc.Student, tc.Train.SeqLen, nil
	}
	if tc.Model == "" {
		return student.Config{}, 0, fmt.Errorf("%s: no model or student", config)
	}
	s, err := train.LoadStudent(tc.Model)
	return s, tc.Train.SeqLen, err
}

func printModelInfo(a *app, name string, s student.Config, vocabNote string, seqLen int) {
	w := a.stdout
	d := int64(s.DModel)
	emb := int64(s.VocabSize) * d
	total := s.ParamCount()
	blocks := total - emb - d
	if s.UntieEmbed {
		blocks -= emb
	}
	tie := "tied embeddings"
	if s.UntieEmbed {
		tie = "untied embeddings"
	}
	share := ""
	if s.ShareBlocks {
		share = ", blocks shared (MobileLLM-LS)"
	}
	fmt.Fprintf(w, "model        %s\n", name)
	if s.Arch != "" || s.RopeScaling.Type != "" {
		fmt.Fprintf(w, "arch         %s%s\n", s.ArchName(), map[bool]string{true: ", rope_scaling " + s.RopeScaling.Type}[s.RopeScaling.Type != ""])
	}
	fmt.Fprintf(w, "architecture %d blocks (%d applied%s), d_model %d, %d heads / %d kv heads (head %d), ffn %d, context %d, %s\n",
		s.NLayers, s.AppliedLayers(), share, s.DModel, s.NHeads, s.NKVHeads, s.HeadDim(), s.FFNDim, s.ContextLength, tie)
	fmt.Fprintf(w, "vocab        %d (%s)\n", s.VocabSize, vocabNote)
	fmt.Fprintf(w, "parameters   %s (%s): embedding %s (%.1f%%), blocks %s (%.1f%%)\n",
		commas(total), humanCount(total), commas(emb), 100*float64(emb)/float64(total), commas(blocks), 100*float64(blocks)/float64(total))
	fmt.Fprintf(w, "weights      %s F32, %s F16\n", humanBytes(4*total), humanBytes(2*total))
	fl := s.FLOPsPerToken(seqLen)
	fmt.Fprintf(w, "FLOPs/token  %s forward at position %d (training step ≈ 3×: %s)\n", humanCount(fl), seqLen, humanCount(3*fl))
	kv32, kv16 := s.KVBytesPerToken(4), s.KVBytesPerToken(2)
	fmt.Fprintf(w, "KV cache     %s bytes/token F32, %s bytes/token F16 (full context %d: %s F16)\n",
		commas(kv32), commas(kv16), s.ContextLength, humanBytes(kv16*int64(s.ContextLength)))
}

func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func humanCount(n int64) string {
	f := float64(n)
	switch {
	case f >= 1e9:
		return fmt.Sprintf("%.2f G", f/1e9)
	case f >= 1e6:
		return fmt.Sprintf("%.2f M", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1f k", f/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	f := float64(n)
	switch {
	case f >= 1<<30:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// tokenizerVocab loads a tokenizer.json and returns its vocabulary size.
func tokenizerVocab(path string) (int, error) {
	tok, err := tokenizer.Load(path)
	if err != nil {
		return 0, err
	}
	return tok.VocabSize(), nil
}
