package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/imatrix"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/checkpoint"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// newExportCmd is `distill export`: a training checkpoint → llama GGUF.
func newExportCmd(a *app) *cobra.Command {
	var ckpt, typ, out, tokPath, name, modelVersion, description, format, dtype string
	var addBOS, pure bool
	c := &cobra.Command{
		Use:   "export --checkpoint DIR [--format gguf|hf] --type TYPE --out FILE.gguf|DIR",
		Short: "Export a trained student as a GGUF that llama.cpp loads, or a Hugging Face directory",
		Long: "Reads a checkpoint (model.safetensors, config.json, tokenizer.json; DIR may be a run\n" +
			"directory, its newest step is used).\n" +
			"--format gguf (default) writes a GGUF (architecture llama, qwen2 or qwen3) with <arch>.*\n" +
			"hyperparameters, llama.cpp tensor names, the embedded tokenizer and provenance. TYPE is one of\n" +
			strings.Join(quant.FileTypeNames(), ", ") + " (llama-quantize's names; q4_k and q5_k are aliases\n" +
			"of q4_k_m and q5_k_m): each tensor gets the type llama-quantize's mix gives it, or with --pure\n" +
			"the base type everywhere, with llama.cpp's fallbacks for rows the block does not divide.\n" +
			"--format hf writes the directory --out: config.json, model.safetensors (--dtype f32, f16 or\n" +
			"bf16), tokenizer.json, tokenizer_config.json and generation_config.json, as transformers'\n" +
			"from_pretrained loads them.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ckpt == "" || out == "" {
				return usagef("export: --checkpoint and --out are required")
			}
			if format != "gguf" && format != "hf" {
				return usagef("export: --format %q: want gguf or hf", format)
			}
			stDtype := map[string]string{"f32": checkpoint.DtypeF32, "f16": checkpoint.DtypeF16, "bf16": checkpoint.DtypeBF16}[strings.ToLower(dtype)]
			if stDtype == "" {
				return usagef("export: --dtype %q: want f32, f16 or bf16", dtype)
			}
			if format == "hf" && (cmd.Flags().Changed("type") || addBOS) {
				return usagef("export: --type and --add-bos are GGUF options; --format hf takes --dtype")
			}
			if format == "gguf" && cmd.Flags().Changed("dtype") {
				return usagef("export: --dtype is for --format hf; GGUF takes --type")
			}
			ft, err := quant.ParseFileType(typ)
			if err != nil {
				return usagef("export: --type: %v", err)
			}
			dir, err := checkpoint.Resolve(ckpt)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			cfg, weights, ckTok, err := checkpoint.LoadWeights(dir)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if tokPath == "" {
				tokPath = ckTok
			}
			if tokPath == "" {
				return fmt.Errorf("export: checkpoint %s has no %s; pass --tokenizer", dir, checkpoint.TokenizerFile)
			}
			tok, err := tokenizer.Load(tokPath)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if format == "hf" {
				if err := export.WriteHF(out, &export.HFModel{Config: cfg, Tensors: weights, Tok: tok, Dtype: stDtype}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "export: wrote %s (Hugging Face %s, %s)\n", out, cfg.ArchName(), stDtype)
				return nil
			}
			vocab := export.TokenizerVocab(tok)
			if addBOS {
				if vocab.BOS < 0 {
					return fmt.Errorf("export: --add-bos: tokenizer %s has no BOS token", tokPath)
				}
				vocab.AddBOS = true
			}
			if modelVersion == "" {
				modelVersion = filepath.Base(dir)
			}
			m := &export.Model{
				Config: cfg, Tensors: weights, Vocab: vocab,
				Name: name, Version: modelVersion, Description: description,
				Extra: []gguf.KV{
					{Key: gguf.KeyDistillVersion, Value: gguf.Of(version)},
					{Key: gguf.KeyDistillCheckpoint, Value: gguf.Of(filepath.Base(dir))},
					{Key: gguf.KeyDistillTokenizerHash, Value: gguf.Of(tok.Hash())},
					{Key: gguf.KeyDistillShareBlocks, Value: gguf.Of(cfg.ShareBlocks)},
				},
			}
			opt := export.Options{Type: ft, Pure: pure, Progress: a.byteProgress("export"), Warn: func(s string) { fmt.Fprintf(a.stderr, "export: %s\n", s) }}
			if err := export.Write(out, m, opt); err != nil {
				return err
			}
			return a.summarizeGGUF("export", out)
		},
	}
	c.Flags().StringVar(&ckpt, "checkpoint", "", "checkpoint directory (a step directory or a run directory)")
	c.Flags().StringVar(&format, "format", "gguf", "gguf (llama.cpp) or hf (Hugging Face directory)")
	c.Flags().StringVar(&typ, "type", "q8_0", "GGUF tensor encoding: "+strings.Join(quant.FileTypeNames(), "|"))
	c.Flags().StringVar(&dtype, "dtype", "f32", "Hugging Face weight type: f32|f16|bf16")
	c.Flags().StringVar(&out, "out", "", "output GGUF file or Hugging Face directory (written atomically)")
	c.Flags().StringVar(&tokPath, "tokenizer", "", "tokenizer.json to embed (default: the checkpoint's copy)")
	c.Flags().StringVar(&name, "name", "distill-student", "general.name")
	c.Flags().StringVar(&modelVersion, "model-version", "", "general.version (default: the checkpoint step directory name)")
	c.Flags().StringVar(&description, "description", "", "general.description")
	c.Flags().BoolVar(&pure, "pure", false, "every quantizable tensor in the base type (llama-quantize --pure)")
	c.Flags().BoolVar(&addBOS, "add-bos", false, "declare tokenizer.ggml.add_bos_token so runtimes prepend BOS (use when the training rows started with BOS, i.e. were imported without --no-bos)")
	return c
}

// newQuantizeCmd is `distill quantize`: re-encode an F32/F16 GGUF.
func newQuantizeCmd(a *app) *cobra.Command {
	var typ, imatrixPath string
	var pure bool
	c := &cobra.Command{
		Use:   "quantize --type TYPE [--pure] [--imatrix FILE] IN.gguf OUT.gguf",
		Short: "Re-quantize an F32/F16 GGUF (e.g. to llama.cpp's q4_k_m mix)",
		Long: "Reads IN (F32/F16 weights), chooses each tensor's type as llama-quantize does for TYPE\n" +
			"(" + strings.Join(quant.FileTypeNames(), ", ") + "), quantizes with ggml's reference quantizers and\n" +
			"writes OUT atomically. Norms and 1-D tensors are copied unchanged; metadata is copied with\n" +
			"general.file_type updated. --pure gives every quantizable tensor the base type, as\n" +
			"llama-quantize --pure does. --imatrix FILE (llama.cpp's GGUF imatrix or legacy .dat) weights\n" +
			"the quantizers as llama-quantize --imatrix does (Q8_0/F16 ignore it) and records it as\n" +
			"llama-quantize does: quantize.imatrix.file (FILE exactly as given, up to 127 bytes),\n" +
			"quantize.imatrix.dataset (its first dataset), quantize.imatrix.entries_count and\n" +
			"quantize.imatrix.chunks_count, so OUT is byte-identical to llama-quantize's.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if typ == "" {
				return usagef("quantize: --type is required")
			}
			ft, err := quant.ParseFileType(typ)
			if err != nil {
				return usagef("quantize: --type: %v", err)
			}
			opt := export.Options{Pure: pure, Progress: a.byteProgress("quantize")}
			if imatrixPath != "" {
				im, err := imatrix.Read(imatrixPath)
				if err != nil {
					return fmt.Errorf("quantize: %w", err)
				}
				if opt.Imatrix, err = im.Weights(); err != nil {
					return fmt.Errorf("quantize: %s: %w", imatrixPath, err)
				}
				opt.ImatrixSource = export.ImatrixSourceOf(imatrixPath, im)
			}
			if err := export.Requantize(args[0], args[1], ft, opt); err != nil {
				return err
			}
			return a.summarizeGGUF("quantize", args[1])
		},
	}
	c.Flags().StringVar(&typ, "type", "", "target encoding: "+strings.Join(quant.FileTypeNames(), "|"))
	c.Flags().BoolVar(&pure, "pure", false, "every quantizable tensor in the base type (llama-quantize --pure)")
	c.Flags().StringVar(&imatrixPath, "imatrix", "", "importance matrix (llama.cpp GGUF imatrix or legacy .dat) to weight the quantizers with")
	return c
}

// terminalBar returns a function that shows done of total on a progress bar
// on stderr, made at its first call (when the total is known; < 0: a
// spinner), or nil when stderr is not a terminal. bytes shows the counts as
// sizes.
func (a *app) terminalBar(what string, bytes bool) func(done, total int64) {
	if !isTerminal(a.stderr) {
		return nil
	}
	f := a.stderr.(*os.File)
	count := progressbar.OptionShowCount()
	if bytes {
		count = progressbar.OptionShowBytes(true)
	}
	var bar *progressbar.ProgressBar
	return func(done, total int64) {
		if bar == nil {
			bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
				count, progressbar.OptionClearOnFinish())
		}
		bar.Set64(done)
	}
}

// byteProgress shows tensor bytes written: a bar on a terminal, plain lines
// at every quarter otherwise.
func (a *app) byteProgress(what string) func(done, total int64, tensor string) {
	if bar := a.terminalBar(what, true); bar != nil {
		return func(done, total int64, tensor string) { bar(done, total) }
	}
	last := int64(-1)
	return func(done, total int64, tensor string) {
		q := 4 * done / max(total, 1)
		if q != last {
			last = q
			fmt.Fprintf(a.stderr, "%s: %d%% (%s of %s, %s)\n", what, 100*done/max(total, 1), mib(done), mib(total), tensor)
		}
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// summarizeGGUF prints one line about a written file.
func (a *app) summarizeGGUF(what, path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: re-reading %s: %w", what, path, err)
	}
	defer f.Close()
	types := make([]quant.Type, len(f.Tensors))
	for i, t := range f.Tensors {
		types[i] = t.Type
	}
	fmt.Fprintf(a.stdout, "%s: wrote %s (%s, %d tensors: %s)\n", what, path, mib(f.Size), len(f.Tensors), export.TypeSummary(types))
	return nil
}

// inspectGGUF prints a GGUF file's metadata and tensor table.
func inspectGGUF(a *app, path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer f.Close()
	w := a.stdout
	fmt.Fprintf(w, "GGUF v%d  %s  %d bytes\n", f.Version, path, f.Size)
	fmt.Fprintf(w, "alignment %d, data offset %d, %d metadata keys, %d tensors\n\n", f.Alignment, f.DataOffset, len(f.KVs), len(f.Tensors))
	fmt.Fprintln(w, "metadata:")
	for _, kv := range f.KVs {
		typ := kv.Value.Type().String()
		if kv.Value.Type() == gguf.TypeArray {
			typ = "arr[" + kv.Value.ElemType().String() + "]"
		}
		fmt.Fprintf(w, "  %-44s %-9s %s\n", kv.Key, typ, kv.Value)
	}
	fmt.Fprintln(w, "\ntensors:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  name\ttype\tdims\toffset\tbytes")
	var params uint64
	types := make([]quant.Type, len(f.Tensors))
	for i, t := range f.Tensors {
		dims := make([]string, len(t.Dims))
		for j, d := range t.Dims {
			dims[j] = fmt.Sprint(d)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\n", t.Name, t.Type, strings.Join(dims, "×"), t.Offset, t.Size)
		params += t.Elements()
		types[i] = t.Type
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d parameters; %s\n", params, export.TypeSummary(types))
	return nil
}
