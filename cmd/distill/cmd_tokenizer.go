package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/spf13/cobra"
)

// newTokenizerCmd is `distill tokenizer`: train, encode, decode, info.
func newTokenizerCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "tokenizer",
		Short: "Train, inspect and run byte-level BPE tokenizers (Hugging Face tokenizer.json)",
	}
	c.AddCommand(newTokenizerTrainCmd(a), newTokenizerEncodeCmd(a), newTokenizerDecodeCmd(a), newTokenizerInfoCmd(a))
	return c
}

func newTokenizerTrainCmd(a *app) *cobra.Command {
	var (
		corpus   []string
		out      string
		specials string
		quiet    bool
		cfg      tokenizer.TrainConfig
	)
	c := &cobra.Command{
		Use:   "train --corpus FILE... --vocab-size N --out tokenizer.json [--pre llama-bpe]",
		Short: "Train a byte-level BPE tokenizer on text files (deterministic)",
		Long: "Trains a byte-level BPE tokenizer on the given text files and writes a Hugging Face\n" +
			"tokenizer.json and its tokenizer_config.json (BOS/EOS/PAD, chat template) beside it.\n" +
			"The same files and flags give the same tokenizer. The pre-tokenizer is\n" +
			"one llama.cpp implements (llama-bpe, qwen2 or gpt-2) so that a GGUF export can name it\n" +
			"and llama.cpp tokenizes exactly as distill does. Default special tokens: " + strings.Join(tokenizer.DefaultSpecials(), " ") + ".",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(corpus) == 0 {
				return usagef("tokenizer train: --corpus FILE is required")
			}
			if out == "" {
				return usagef("tokenizer train: --out FILE is required")
			}
			if specials != "" {
				cfg.Specials = strings.Split(specials, ",")
			}
			if err := cfg.Validate(); err != nil {
				return usagef("tokenizer train: %v", err)
			}
			start := time.Now()
			texts := make([]string, 0, len(corpus))
			size := 0
			for _, path := range corpus {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("tokenizer train: read corpus: %w", err)
				}
				texts = append(texts, string(b))
				size += len(b)
			}
			if size == 0 {
				return fmt.Errorf("tokenizer train: the corpus files (%s) are empty", strings.Join(corpus, ", "))
			}
			var progress func(done, total int)
			if !quiet {
				fmt.Fprintf(a.stderr, "tokenizer train: %.1f MB from %d file(s), vocab %d, pre %s\n", float64(size)/1e6, len(corpus), cfg.VocabSize, cfg.Pre)
				progress = a.countProgress("tokenizer merges")
			}
			tok, err := tokenizer.TrainStrings(texts, cfg, progress)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return fmt.Errorf("tokenizer train: %w", err)
			}
			if err := tok.Save(out); err != nil {
				return err
			}
			if tok.VocabSize() < cfg.VocabSize {
				fmt.Fprintf(a.stderr, "tokenizer train: warning: the corpus supports only %d tokens (asked %d): no pair left to merge that occurs at least %d time(s)\n", tok.VocabSize(), cfg.VocabSize, max(cfg.MinFrequency, 1))
			}
			fmt.Fprintf(a.stdout, "wrote %s: vocab %d (%d merges, %d specials), pre %s, %s, in %s\n", out, tok.VocabSize(),
				tok.NumMerges(), tok.NumAdded(), tok.Pre(), tok.Hash(), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	f := c.Flags()
	f.StringSliceVar(&corpus, "corpus", nil, "text file(s) to train on (repeat or comma-separate)")
	f.IntVar(&cfg.VocabSize, "vocab-size", 4096, "total vocabulary size: 256 bytes + merges + specials")
	f.StringVar(&out, "out", "", "output tokenizer.json (written atomically)")
	f.StringVar(&cfg.Pre, "pre", tokenizer.PreLlama3, "pre-tokenizer: llama-bpe, qwen2 or gpt-2")
	f.StringVar(&specials, "specials", "", "comma-separated special tokens (default: "+strings.Join(tokenizer.DefaultSpecials(), ",")+")")
	f.IntVar(&cfg.MinFrequency, "min-frequency", 1, "stop when the best pair occurs fewer times")
	f.BoolVar(&quiet, "quiet", false, "no progress output")
	return c
}

// countProgress reports done/total on stderr: a bar on a terminal, plain
// lines at every quarter otherwise.
func (a *app) countProgress(what string) func(done, total int) {
	if bar := a.terminalBar(what, false); bar != nil {
		return func(done, total int) { bar(int64(done), int64(total)) }
	}
	last := -1
	return func(done, total int) {
		q := 4 * done / max(total, 1)
		if q != last || done == total {
			last = q
			fmt.Fprintf(a.stderr, "%s: %d/%d\n", what, done, total)
		}
	}
}

func loadTokenizerArg(path string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.Load(path)
	if err != nil {
		return nil, err
	}
	return tok, nil
}

func newTokenizerEncodeCmd(a *app) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "encode TOKENIZER.json [TEXT]",
		Short: "Print the token ids of TEXT (or of stdin); no BOS/EOS is added",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := loadTokenizerArg(args[0])
			if err != nil {
				return err
			}
			var text string
			if len(args) == 2 {
				text = args[1]
			} else {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("tokenizer encode: read stdin: %w", err)
				}
				text = string(b)
			}
			ids := tok.Encode(text)
			if asJSON {
				b, _ := json.Marshal(ids)
				fmt.Fprintln(a.stdout, string(b))
				return nil
			}
			parts := make([]string, len(ids))
			for i, id := range ids {
				parts[i] = strconv.Itoa(int(id))
			}
			fmt.Fprintln(a.stdout, strings.Join(parts, " "))
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return c
}

func newTokenizerDecodeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "decode TOKENIZER.json [ID...]",
		Short: "Write the bytes of token ids (arguments, or whitespace/comma-separated on stdin)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := loadTokenizerArg(args[0])
			if err != nil {
				return err
			}
			fields := args[1:]
			fromStdin := len(fields) == 0
			if fromStdin {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("tokenizer decode: read stdin: %w", err)
				}
				fields = strings.FieldsFunc(string(b), func(r rune) bool {
					return r == ',' || r == '[' || r == ']' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
				})
			}
			ids := make([]int32, len(fields))
			for i, f := range fields {
				v, err := strconv.ParseInt(f, 10, 32)
				if err != nil {
					if fromStdin {
						return fmt.Errorf("tokenizer decode: stdin item %d %q is not a token id", i+1, f)
					}
					return usagef("tokenizer decode: argument %q is not a token id", f)
				}
				ids[i] = int32(v)
			}
			b, err := tok.DecodeChecked(ids)
			if err != nil {
				return fmt.Errorf("tokenizer decode: %w", err)
			}
			_, err = a.stdout.Write(b)
			return err
		},
	}
}

func newTokenizerInfoCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "info TOKENIZER.json",
		Short: "Print vocabulary size, hash, pre-tokenizer and special tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, err := loadTokenizerArg(args[0])
			if err != nil {
				return err
			}
			sp := tok.Special()
			norm := tok.Normalizer()
			if norm == "" {
				norm = "none"
			}
			w := a.stdout
			fmt.Fprintf(w, "tokenizer   %s\n", args[0])
			fmt.Fprintf(w, "vocab size  %d (%d merges, %d added tokens)\n", tok.VocabSize(), tok.NumMerges(), tok.NumAdded())
			fmt.Fprintf(w, "hash        %s\n", tok.Hash())
			fmt.Fprintf(w, "pre         %s (GGUF tokenizer.ggml.pre)\n", tok.Pre())
			fmt.Fprintf(w, "normalizer  %s\n", norm)
			for _, s := range []struct {
				name string
				id   int32
			}{{"bos", sp.BOS}, {"eos", sp.EOS}, {"pad", sp.PAD}, {"im_start", sp.ImStart}, {"im_end", sp.ImEnd}, {"eot", sp.EOT}} {
				if s.id < 0 {
					fmt.Fprintf(w, "%-11s none\n", s.name)
					continue
				}
				b, _ := tok.TokenBytes(s.id)
				fmt.Fprintf(w, "%-11s %d %q\n", s.name, s.id, b)
			}
			if sp.ChatTemplate == "" {
				fmt.Fprintf(w, "chat tmpl   none\n")
			} else {
				fmt.Fprintf(w, "chat tmpl   %d bytes\n", len(sp.ChatTemplate))
			}
			return nil
		},
	}
}
