package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/num/stats"
)

// WriteReports writes gate.json, gate.md, report.html and its PNG plots into dir.
func WriteReports(dir string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "gate.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var md bytes.Buffer
	WriteTable(&md, rep)
	if err := atomicfile.WriteFile(filepath.Join(dir, "gate.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	plots := []struct {
		file string
		make func(*Report) (*plot.Plot, error)
	}{
		{"sustained.png", plotSustained},
		{"token_latency.png", plotLatencyHist},
		{"quality.png", plotQuality},
	}
	var imgs []string
	for _, p := range plots {
		pl, err := p.make(rep)
		if err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
		if pl == nil {
			continue
		}
		wt, err := pl.WriterTo(7*vg.Inch, 3.5*vg.Inch, "png")
		if err != nil {
			return fmt.Errorf("plot %s: %w", p.file, err)
		}
		if err := atomicfile.Write(filepath.Join(dir, p.file), 0o644, func(w io.Writer) error { _, err := wt.WriteTo(w); return err }); err != nil {
			return err
		}
		imgs = append(imgs, p.file)
	}
	var html bytes.Buffer
	if err := htmlTmpl.Execute(&html, map[string]any{"R": rep, "Table": md.String(), "Images": imgs}); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "report.html"), html.Bytes(), 0o644)
}

// WriteTable writes the summary table (Markdown): one row per artifact.
func WriteTable(w io.Writer, rep *Report) {
	routes := make([]string, 0, len(rep.Config.Routes))
	for r := range rep.Config.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	fmt.Fprintf(w, "# Gate report\n\n%s\n\n", rep.Summary)
	if rep.Config.Teacher == "" {
		for _, r := range routes {
			if rep.Config.Routes[r].Thresholds.MaxDropVsTeacher > 0 {
				fmt.Fprintf(w, "Route %s: max_drop_vs_teacher is set but no teacher was given; that bar was not checked.\n\n", r)
			}
		}
	}
	fmt.Fprintf(w, "| artifact | route | task score | partial | answerable right | perplexity | teacher top-1 | teacher KL | drop | TTFT p95 ms | token p95 ms | sustained floor tok/s | size MiB | KV MiB | verdict |\n")
	fmt.Fprintf(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range rep.Artifacts {
		for _, r := range routes {
			q := a.Quality[r]
			verdict := "rejected"
			switch {
			case a.Baseline:
				verdict = "baseline"
			case a.Reference:
				verdict = "reference"
			case a.Teacher:
				verdict = "teacher"
			case a.Approved:
				verdict = "approved"
			}
			top1, kl := "-", "-"
			if q.HasTeacher {
				top1, kl = fmt.Sprintf("%.3f", q.TeacherTop1), fmt.Sprintf("%.4f", q.TeacherKL)
			}
			fmt.Fprintf(w, "| %s | %s | %.3f (%d/%d) | %.3f | %d/%d | %.3f | %s | %s | %+.3f | %.1f | %.2f | %.1f | %.1f | %.1f | %s |\n",
				a.Name, r, q.TaskScore, q.Correct, q.Items, q.PartialScore, q.AnswerableCorrect, q.Answerable, q.Perplexity, top1, kl, a.Drop[r],
				a.Latency.TTFTMs.P95, a.Latency.TokenMs.P95, a.Sustained.FloorTPS,
				float64(a.Footprint.FileBytes)/(1<<20), float64(a.Footprint.KVCacheBytes)/(1<<20), verdict)
		}
	}
	writeComparisons(w, rep.Comparisons)
	writeKLD(w, rep, routes)
	fmt.Fprintf(w, "\n## Checks\n\n| artifact | route | check | value | limit | result |\n|---|---|---|---|---|---|\n")
	for _, a := range rep.Artifacts {
		for _, c := range a.Checks {
			res := "pass"
			if !c.Pass {
				res = "**FAIL**"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %.4g %s | %s %.4g | %s |\n", a.Name, c.Route, c.Name, c.Value, c.Unit, c.Op, c.Limit, res)
		}
	}
	fmt.Fprintf(w, "\nApproved: %s\n", strings.Join(append([]string{}, rep.Approved...), ", "))
}

// writeComparisons writes the paired comparisons (Markdown).
func writeComparisons(w io.Writer, cs []Comparison) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Paired comparisons\n\nA − B on the same golden items; [95%% paired-bootstrap interval, %d resamples]; McNemar's exact test on the items only one side gets right.\n\n", compareResamples)
	fmt.Fprintf(w, "| A − B | route | items | task score | McNemar exact | partial credit | perplexity |\n|---|---|---|---|---|---|---|\n")
	for _, c := range cs {
		ppl := "-"
		if lp := c.LogPerplexityRatio; lp != nil {
			ppl = FormatRelative(*lp)
		}
		fmt.Fprintf(w, "| %s − %s | %s | %d | %s | %d vs %d items, p = %.4g | %s | %s |\n", c.A, c.B, c.Route, c.Items,
			FormatInterval(c.TaskScore), c.McNemar.AOnly, c.McNemar.BOnly, c.McNemar.P, FormatInterval(c.Partial), ppl)
	}
}

// writeKLD writes each candidate's KL-divergence statistics against the
// baseline (Markdown), per golden route and on the held-out text.
func writeKLD(w io.Writer, rep *Report, routes []string) {
	sets := append(append([]string{}, routes...), HeldOutSet)
	header := false
	for _, a := range rep.Artifacts {
		for _, set := range sets {
			k := a.KLD[set]
			if k == nil {
				continue
			}
			if !header {
				fmt.Fprintf(w, "\n## KL divergence from the baseline\n\nKL(baseline‖candidate) per scored token, as `llama-perplexity --kl-divergence` reports it (± is the standard error); Δp is the candidate's probability of the actual token minus the baseline's.\n\n")
				fmt.Fprintf(w, "| artifact | tokens of | positions | mean KLD | median | p90 | p95 | p99 | max | same top | mean Δp | RMS Δp | PPL ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
				header = true
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.6f ± %.6f | %.6f | %.6f | %.6f | %.6f | %.6f | %.2f ± %.2f%% | %+.3f ± %.3f%% | %.3f%% | %.4f ± %.4f |\n",
				a.Name, set, k.Tokens, k.MeanKLD, k.MeanKLDUnc, k.KLDMedian, k.KLDP90, k.KLDP95, k.KLDP99, k.KLDMax,
				100*k.SameTop, 100*k.SameTopUnc, 100*k.MeanDeltaP, 100*k.MeanDeltaPUnc, 100*k.RMSDeltaP, k.PPLRatio, k.PPLRatioUnc)
		}
	}
}

// FormatInterval writes a difference with its interval: "+0.100 [+0.020, +0.180]".
func FormatInterval(iv stats.Interval) string {
	return fmt.Sprintf("%+.3f [%+.3f, %+.3f]", iv.Estimate, iv.Lo, iv.Hi)
}

// FormatRelative writes a log ratio as a relative change with its interval:
// "-10.5% [-12.0%, -9.1%]".
func FormatRelative(iv stats.Interval) string {
	rel := func(x float64) float64 { return 100 * (math.Exp(x) - 1) }
	return fmt.Sprintf("%+.1f%% [%+.1f%%, %+.1f%%]", rel(iv.Estimate), rel(iv.Lo), rel(iv.Hi))
}

var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255}, color.RGBA{140, 86, 75, 255},
}

func plotSustained(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Sustained decode"
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "tokens/s"
	p.Y.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	any := false
	for i, a := range rep.Artifacts {
		if len(a.Sustained.Samples) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(a.Sustained.Samples))
		for k, v := range a.Sustained.Samples {
			pts[k].X = float64(k+1) * a.Sustained.Interval
			pts[k].Y = v
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		l.Color = palette[i%len(palette)]
		p.Add(l)
		p.Legend.Add(a.Name, l)
		any = true
	}
	if !any {
		return nil, nil
	}
	return p, nil
}

func plotLatencyHist(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Per-token decode latency"
	p.X.Label.Text = "ms"
	p.Y.Label.Text = "tokens"
	p.Legend.Top = true
	any := false
	for i, a := range rep.Artifacts {
		if len(a.Latency.tokenRaw) < 2 {
			continue
		}
		h, err := plotter.NewHist(plotter.Values(a.Latency.tokenRaw), 30)
		if err != nil {
			return nil, err
		}
		h.FillColor = nil
		h.LineStyle.Color = palette[i%len(palette)]
		p.Add(h)
		p.Legend.Add(a.Name, h)
		any = true
	}
	if !any {
		return nil, nil
	}
	return p, nil
}

func plotQuality(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Golden-set task score"
	p.Y.Label.Text = "fraction correct"
	routes := make([]string, 0, len(rep.Config.Routes))
	for r := range rep.Config.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	var names []string
	w := vg.Points(36) / vg.Length(len(routes))
	for ri, r := range routes {
		vals := make(plotter.Values, len(rep.Artifacts))
		for i, a := range rep.Artifacts {
			vals[i] = a.Quality[r].TaskScore
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Color = palette[ri%len(palette)]
		bars.Offset = vg.Length(ri) * w
		p.Add(bars)
		p.Legend.Add(r, bars)
	}
	for _, a := range rep.Artifacts {
		names = append(names, a.Name)
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, 1.15
	p.Legend.Top = true
	return p, nil
}

var htmlTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>distill gate report</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style>
</head><body>
<h1>distill gate report</h1>
<p><b>{{.R.Summary}}</b> — created {{.R.Created.Format "2006-01-02 15:04:05Z"}}</p>
{{range .Images}}<p><img src="{{.}}" alt="{{.}}" width="700"></p>{{end}}
<h2>Summary and checks</h2>
<pre>{{.Table}}</pre>
<p>Full measurements: <a href="gate.json">gate.json</a></p>
</body></html>
`))
