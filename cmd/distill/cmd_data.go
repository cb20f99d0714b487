package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/importer"
	"github.com/distill-ml/distill/data/subset"
	"github.com/distill-ml/distill/data/tokenizer"
)

// newDataCmd is the parent of the dataset subcommands.
func newDataCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "data",
		Short: "Teacher-signal datasets: synthesize, import, validate, merge, inspect",
		Long: "A distill dataset is a directory of Parquet shards (schema v1: one row per sequence with\n" +
			"tokens, prompt length, packed teacher top-k and optional float16 hidden states) and a\n" +
			"manifest.json listing every shard with its sha256.",
	}
	c.AddCommand(newDataSynthCmd(a), newDataImportCmd(a), newDataValidateCmd(a), newDataMergeCmd(a), newDataSubsetCmd(a), newDataInspectCmd(a))
	return c
}

func newDataValidateCmd(a *app) *cobra.Command {
	var tokPath, tokHash string
	var vocab, maxProblems int
	c := &cobra.Command{
		Use:   "validate DIR",
		Short: "Check a dataset completely and list every problem (exit 1 if any)",
		Long: "Checks the manifest, every shard's size and sha256, Parquet schema and metadata, and every\n" +
			"row: ids inside the vocabulary, top-k sorted with finite logprobs <= 0, tail mass in [0, 1],\n" +
			"probabilities summing to 1, consistent lengths. Each problem names shard, row and field.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokPath != "" && tokHash != "" {
				return usagef("give --tokenizer or --tokenizer-hash, not both")
			}
			if vocab < 0 || maxProblems < 0 {
				return usagef("--vocab and --max-problems must be >= 0")
			}
			opts := dataset.ValidateOptions{TokenizerHash: tokHash, VocabSize: vocab, MaxProblems: maxProblems,
				Progress: a.shardProgress("validate " + args[0])}
			if tokPath != "" {
				tok, err := tokenizer.Load(tokPath)
				if err != nil {
					return fmt.Errorf("data validate: %w", err)
				}
				opts.TokenizerHash = tok.Hash()
				if opts.VocabSize == 0 {
					opts.VocabSize = tok.VocabSize()
				}
			}
			probs := dataset.Validate(args[0], opts)
			for _, p := range probs {
				fmt.Fprintln(a.stdout, p.String())
			}
			if len(probs) > 0 {
				more := ""
				if opts.MaxProblems > 0 && len(probs) >= opts.MaxProblems || opts.MaxProblems == 0 && len(probs) >= 1000 {
					more = " (stopped at the limit; raise --max-problems)"
				}
				return fmt.Errorf("data validate %s: %d problem(s)%s", args[0], len(probs), more)
			}
			m, _ := dataset.ReadManifest(args[0])
			fmt.Fprintf(a.stdout, "ok: %s: %d rows, %d tokens in %d shards\n", args[0], m.Rows, m.Tokens, len(m.Shards))
			return nil
		},
	}
	c.Flags().StringVar(&tokPath, "tokenizer", "", "tokenizer.json the dataset must have been tokenized with (hash and vocabulary)")
	c.Flags().StringVar(&tokHash, "tokenizer-hash", "", "expected tokenizer hash")
	c.Flags().IntVar(&vocab, "vocab", 0, "student vocabulary size: every id must be below it (default: the tokenizer's or the dataset's)")
	c.Flags().IntVar(&maxProblems, "max-problems", 1000, "stop after this many problems")
	return c
}

func newDataImportCmd(a *app) *cobra.Command {
	var in, tokPath, out, split, source, docStart string
	var noBOS, noEOS, replaceUTF8 bool
	var shardMiB int
	c := &cobra.Command{
		Use:   "import --in FILE.jsonl|FILE.parquet|FILE.txt --tokenizer tokenizer.json --out DIR",
		Short: "Convert a JSONL, Parquet or plain-text dataset (prompt/completion, chat messages or text) into a distill dataset",
		Long: "Rows may have prompt+completion, a chat \"messages\" list (rendered by the tokenizer's own chat\n" +
			"template; every assistant turn becomes a row whose prompt is everything before it, and the last\n" +
			"message must be the assistant's) or text. Optional split/source fields\n" +
			"override --split/--source. Rows with the same source and prompt (the same id) are kept once;\n" +
			"text rows with the same source and text. A .txt file becomes text rows (every token a target),\n" +
			"one per document: one per paragraph, or, with --doc-start, one per line starting with it and\n" +
			"the lines after it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" || tokPath == "" || out == "" {
				return usagef("data import needs --in, --tokenizer and --out")
			}
			if shardMiB <= 0 {
				return usagef("--shard-mib must be > 0")
			}
			tok, err := tokenizer.Load(tokPath)
			if err != nil {
				return fmt.Errorf("data import: %w", err)
			}
			sp := tok.Special()
			opts := importer.Options{Split: split, Source: source, BOS: sp.BOS, EOS: sp.EOS,
				Writer:             dataset.WriterOptions{MaxShardBytes: int64(shardMiB) << 20},
				Progress:           a.dataProgress("import " + filepath.Base(in)),
				ReplaceInvalidUTF8: replaceUTF8, DocStart: docStart}
			if sp.ChatTemplate != "" {
				if opts.Chat, err = chattemplate.ForTokenizer(sp.ChatTemplate, tok, sp.BOS, sp.EOS, sp.EOT); err != nil {
					fmt.Fprintf(a.stderr, "data import: warning: %s: %v (messages rows cannot be imported)\n", tokPath, err)
				}
			}
			if noBOS {
				opts.BOS = -1
			}
			if noEOS {
				opts.EOS = -1
			}
			st, err := importer.Import(in, tok, out, opts)
			if err != nil {
				return fmt.Errorf("data import: %w", err)
			}
			if opts.BOS >= 0 && st.Rows > 0 {
				// Exported GGUFs declare add_bos_token false unless told
				// otherwise; a model trained on BOS-led rows must say so.
				fmt.Fprintf(a.stderr, "data import: every row starts with BOS (id %d); export models trained on it with `distill export --add-bos` so runtimes prepend BOS too, or import with --no-bos\n", opts.BOS)
			}
			fmt.Fprintf(a.stdout, "imported %s -> %s: %d rows, %d tokens", in, out, st.Rows, st.Tokens)
			if st.Duplicates > 0 {
				fmt.Fprintf(a.stdout, ", %d duplicate rows (same id) skipped", st.Duplicates)
			}
			if st.Replaced > 0 {
				fmt.Fprintf(a.stdout, ", %d rows with invalid UTF-8 replaced by U+FFFD", st.Replaced)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "", "input .jsonl, .parquet or .txt file")
	c.Flags().StringVar(&docStart, "doc-start", "", "for a .txt input: a document (one row) begins at every line starting with this text (default: every paragraph)")
	c.Flags().StringVar(&tokPath, "tokenizer", "", "tokenizer.json")
	c.Flags().StringVar(&out, "out", "", "output dataset directory (must not hold a dataset)")
	c.Flags().StringVar(&split, "split", "train", "split of rows that name none")
	c.Flags().StringVar(&source, "source", "", "source of rows that name none (default: the input file name)")
	c.Flags().BoolVar(&noBOS, "no-bos", false, "do not prepend the tokenizer's BOS token")
	c.Flags().BoolVar(&noEOS, "no-eos", false, "do not append the tokenizer's EOS token to prompt/completion and text rows")
	c.Flags().BoolVar(&replaceUTF8, "replace-invalid-utf8", false, "replace invalid UTF-8 in the input with U+FFFD instead of failing (the default names the line and byte offset)")
	c.Flags().IntVar(&shardMiB, "shard-mib", 64, "maximum shard size in MiB")
	return c
}

func newDataSubsetCmd(a *app) *cobra.Command {
	var in, out string
	var fraction float64
	var seed int64
	c := &cobra.Command{
		Use:   "subset --in FILE.jsonl --fraction F --seed N --out FILE.jsonl",
		Short: "Keep a deterministic fraction of a JSONL file's rows (the labelled rows of a data-limited run)",
		Long: "Keeps exactly round(F·rows) rows: those whose seeded hash of the row id (the \"id\" field, else\n" +
			"the dataset id of source and prompt or text) ranks lowest. The same ids, fraction and seed give\n" +
			"the same rows on any machine and in any file order; a smaller fraction's rows are part of a\n" +
			"larger one's. Lines are copied unchanged, in file order.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if in == "" || out == "" {
				return usagef("data subset needs --in and --out")
			}
			st, err := subset.JSONL(in, out, fraction, seed)
			if err != nil {
				return fmt.Errorf("data subset: %w", err)
			}
			fmt.Fprintf(a.stdout, "subset %s -> %s: %d of %d rows (fraction %g, seed %d)\n", in, out, st.Kept, st.Rows, fraction, seed)
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "", "input .jsonl file")
	c.Flags().StringVar(&out, "out", "", "output .jsonl file (written atomically)")
	c.Flags().Float64Var(&fraction, "fraction", 1, "fraction of the rows to keep, in (0, 1]")
	c.Flags().Int64Var(&seed, "seed", 1, "selection seed")
	return c
}

func newDataMergeCmd(a *app) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "merge --out DIR IN_DIR...",
		Short: "Combine datasets into one, keeping the first row of every id",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("data merge needs --out")
			}
			st, err := dataset.Merge(out, args, dataset.MergeOptions{Progress: a.shardProgress("merge")})
			if err != nil {
				return fmt.Errorf("data merge: %w", err)
			}
			fmt.Fprintf(a.stdout, "merged %d datasets -> %s: %d rows, %d tokens, %d duplicate rows skipped\n", len(args), out, st.Rows, st.Tokens, st.Duplicates)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "output dataset directory")
	return c
}

func newDataInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect PATH",
		Short: "Describe a dataset directory or Parquet shard (same as 'distill inspect')",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectPath(a, args[0])
		},
	}
}

// dataProgress reports rows read on stderr: a spinner on a terminal, a plain
// line every 100k rows otherwise.
func (a *app) dataProgress(what string) func(rows int64) {
	if bar := a.terminalBar(what, false); bar != nil {
		return func(rows int64) { bar(rows, -1) }
	}
	return func(rows int64) {
		if rows%100000 == 0 {
			fmt.Fprintf(a.stderr, "%s: %d rows\n", what, rows)
		}
	}
}

// shardProgress reports shards done on stderr: a bar on a terminal, a plain
// line per shard otherwise (only for datasets of more than one shard).
func (a *app) shardProgress(what string) func(done, total int) {
	if bar := a.terminalBar(what, false); bar != nil {
		return func(done, total int) { bar(int64(done), int64(total)) }
	}
	return func(done, total int) {
		if total > 1 {
			fmt.Fprintf(a.stderr, "%s: shard %d/%d\n", what, done, total)
		}
	}
}

func describeMeta(a *app, m *dataset.Meta) {
	fmt.Fprintf(a.stdout, "schema version:  %d (writer %s)\n", m.SchemaVersion, m.WriterVersion)
	fmt.Fprintf(a.stdout, "tokenizer:       %s (vocab %d)\n", m.TokenizerHash, m.VocabSize)
	teacher := m.Teacher
	if teacher == "" {
		teacher = "(none: text only)"
	}
	fmt.Fprintf(a.stdout, "teacher:         %s, temperature %g\n", teacher, m.Temperature)
	keys := make([]string, 0, len(m.TeacherSettings))
	for k := range m.TeacherSettings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// One setting a line; a JSON value (the dataset policy) indented.
		v := m.TeacherSettings[k]
		var ind bytes.Buffer
		if t := strings.TrimSpace(v); (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Indent(&ind, []byte(t), "    ", "  ") == nil {
			v = ind.String()
		}
		fmt.Fprintf(a.stdout, "  %-14s %s\n", k+":", v)
	}
	if m.PolicyHash != "" {
		fmt.Fprintf(a.stdout, "policy:          %s\n", m.PolicyHash)
	}
	fmt.Fprintf(a.stdout, "top-k:           %d (logprobs in steps of 1/%d nat)\n", m.TopK, m.LogprobScale)
	if len(m.HiddenLayers) > 0 {
		fmt.Fprintf(a.stdout, "hidden states:   layers %v, dim %d, float16\n", m.HiddenLayers, m.HiddenDim)
	} else {
		fmt.Fprintln(a.stdout, "hidden states:   none")
	}
}

// inspectDatasetDir describes a dataset directory from its manifest.
func inspectDatasetDir(a *app, path string) error {
	m, err := dataset.ReadManifest(path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	fmt.Fprintf(a.stdout, "distill dataset %s\n", path)
	describeMeta(a, &m.Meta)
	var bytes int64
	splits := map[string]int64{}
	for _, s := range m.Shards {
		bytes += s.Bytes
		for k, n := range s.Splits {
			splits[k] += n
		}
	}
	var sp []string
	for k, n := range splits {
		sp = append(sp, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(sp)
	fmt.Fprintf(a.stdout, "rows:            %d (%s)\n", m.Rows, strings.Join(sp, ", "))
	fmt.Fprintf(a.stdout, "tokens:          %d\n", m.Tokens)
	fmt.Fprintf(a.stdout, "shards:          %d, %d bytes", len(m.Shards), bytes)
	if m.Tokens > 0 {
		fmt.Fprintf(a.stdout, " (%.1f bytes/token)", float64(bytes)/float64(m.Tokens))
	}
	fmt.Fprintln(a.stdout)
	for _, s := range m.Shards {
		fmt.Fprintf(a.stdout, "  %s  %d rows  %d tokens  %d bytes  sha256 %s\n", s.File, s.Rows, s.Tokens, s.Bytes, s.SHA256)
	}
	return nil
}

// inspectParquet describes one dataset shard and its first row.
func inspectParquet(a *app, path string) error {
	sr, err := dataset.OpenShard(path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer sr.Close()
	fmt.Fprintf(a.stdout, "distill dataset shard %s\n", path)
	describeMeta(a, &sr.Meta)
	fmt.Fprintf(a.stdout, "rows:            %d\n", sr.NumRows())
	if sr.NumRows() == 0 {
		return nil
	}
	row, err := sr.Next()
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	rec, err := dataset.DecodeRecord(row, &sr.Meta)
	if err != nil {
		return fmt.Errorf("inspect %s row 0: %w", path, err)
	}
	fmt.Fprintf(a.stdout, "row 0:           id %s, split %s, source %q, %d tokens (prompt %d)\n", rec.ID, rec.Split, rec.Source, len(rec.Tokens), rec.PromptLen)
	if k := sr.Meta.TopK; k > 0 && len(rec.TailMass) > 0 {
		fmt.Fprintf(a.stdout, "  first target:  top-%d ids %v\n                 logprobs %v, tail %.4g\n",
			k, rec.TopKIDs[:min(k, 8)], rec.TopKLogprobs[:min(k, 8)], rec.TailMass[0])
	}
	return nil
}
