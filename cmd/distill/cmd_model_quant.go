package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/train"
	"github.com/distill-ml/distill/export"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/model/student"
)

// printQuantInfo prints, for `model info --quant`, the type llama-quantize's
// mix gives every tensor of s, the tensor-data size and bits per weight, and
// warns on stderr about every shape fallback.
func printQuantInfo(a *app, s student.Config, opt export.Options) {
	plan := export.PlanShapes(s, opt)
	w := a.stdout
	mode := opt.Type.String()
	if opt.Pure {
		mode += " --pure"
	}
	fmt.Fprintf(w, "\nquantization %s (llama-quantize's choice per tensor)\n", mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  tensor\tdims\ttype\tbits/weight\tbytes\t")
	var total, elems int64
	types := make([]quant.Type, len(plan))
	var fallbacks []string
	for i, p := range plan {
		dims := make([]string, len(p.Dims))
		for j, d := range p.Dims {
			dims[j] = fmt.Sprint(d)
		}
		b := p.Bytes()
		note := ""
		if p.Type != p.Wanted {
			note = fmt.Sprintf("  (wanted %s: row %d is not a multiple of %d)", p.Wanted, p.Dims[0], p.Wanted.BlockSize())
			fallbacks = append(fallbacks, p.Name)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.2f\t%s\t%s\n", p.Name, strings.Join(dims, "×"), p.Type,
			8*float64(b)/float64(p.Elements()), commas(b), note)
		total += b
		elems += p.Elements()
		types[i] = p.Type
	}
	tw.Flush()
	fmt.Fprintf(w, "types        %s\n", export.TypeSummary(types))
	fmt.Fprintf(w, "size         %s tensor data (%s bytes; the file adds metadata and the tokenizer), %.2f bits/weight\n",
		humanBytes(total), commas(total), 8*float64(total)/float64(elems))
	fmt.Fprintf(w, "KV cache     %s bytes/token (F16, llama.cpp's default)\n", commas(s.KVBytesPerToken(2)))
	if len(fallbacks) > 0 {
		fmt.Fprintf(a.stderr, "warning: %d of %d tensors fall back from the %s mix's type (rows not a multiple of the block): %s\n",
			len(fallbacks), len(plan), opt.Type, abbreviate(fallbacks, 6))
	}
}

func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … (%d more)", len(names)-n)
}

// printBudget lists the embedded student presets whose tensor data under opt
// fits budget bytes, with vocab as the vocabulary size.
func printBudget(a *app, budget int64, vocab int, vocabNote string, opt export.Options) error {
	type row struct {
		name      string
		params    int64
		bytes     int64
		fallbacks int
	}
	var rows []row
	for _, name := range configs.Presets() {
		isTrain, err := train.IsTrainingConfig(name)
		if err != nil || isTrain {
			continue
		}
		s, err := train.LoadStudent(name)
		if err != nil || s.DModel == 0 {
			continue // not a student architecture (policy, gate, pipeline presets)
		}
		if s.VocabSize == 0 {
			s.VocabSize = vocab
		}
		if s.Validate() != nil {
			continue
		}
		r := row{name: name, params: s.ParamCount()}
		for _, p := range export.PlanShapes(s, opt) {
			r.bytes += p.Bytes()
			if p.Type != p.Wanted {
				r.fallbacks++
			}
		}
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].bytes < rows[j].bytes })
	w := a.stdout
	fmt.Fprintf(w, "presets under %s as %s (vocab %d, %s):\n", humanBytes(budget), opt.Type, vocab, vocabNote)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  preset\tparameters\ttensor data\tbits/weight\tfallbacks\tfits\t")
	for _, r := range rows {
		fits := "no"
		if r.bytes <= budget {
			fits = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%.2f\t%d\t%s\t\n", r.name, humanCount(r.params), humanBytes(r.bytes),
			8*float64(r.bytes)/float64(r.params), r.fallbacks, fits)
	}
	return tw.Flush()
}
