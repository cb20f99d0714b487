package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/num/stats"
)

// ReadReport reads a gate.json that WriteReports wrote; a file that is not
// one is an error naming it.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read gate report: %w", err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("read gate report %s: %w", path, err)
	}
	return &rep, nil
}

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
	if err := htmlTmpl.Execute(&html, map[string]any{"R": rep, "Doc": buildDoc(rep), "Images": imgs}); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "report.html"), html.Bytes(), 0o644)
}

// cell is one table cell; Fail marks a failed check (bold in Markdown, red in HTML).
type cell struct {
	Text string
	Fail bool
}

// table is one section of the report, rendered as Markdown (gate.md) and
// as HTML (report.html) from the same cells.
type table struct {
	Title  string // "" for the summary table
	Note   string
	Header []string
	Rows   [][]cell
}

// reportDoc is the report's text: the verdict, notes, tables, approved list.
type reportDoc struct {
	Summary  string
	Notes    []string
	Tables   []table
	Approved string
}

func row(texts ...string) []cell {
	out := make([]cell, len(texts))
	for i, t := range texts {
		out[i] = cell{Text: t}
	}
	return out
}

// buildDoc lays the report out once for both renderings.
func buildDoc(rep *Report) reportDoc {
	routes := make([]string, 0, len(rep.Config.Routes))
	for r := range rep.Config.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	doc := reportDoc{Summary: rep.Summary, Approved: strings.Join(rep.Approved, ", ")}
	if rep.Config.Teacher == "" {
		for _, r := range routes {
			if rep.Config.Routes[r].Thresholds.MaxDropVsTeacher > 0 {
				doc.Notes = append(doc.Notes, fmt.Sprintf("Route %s: max_drop_vs_teacher is set but no teacher was given; that bar was not checked.", r))
			}
		}
	}
	sum := table{Header: []string{"artifact", "route", "task score", "partial", "answerable right", "perplexity", "teacher top-1", "teacher KL", "drop",
		"TTFT p95 ms", "token p95 ms", "sustained floor tok/s", "size MiB", "KV MiB", "verdict"}}
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
			cells := row(a.Name, r, fmt.Sprintf("%.3f (%d/%d)", q.TaskScore, q.Correct, q.Items), fmt.Sprintf("%.3f", q.PartialScore),
				fmt.Sprintf("%d/%d", q.AnswerableCorrect, q.Answerable), fmt.Sprintf("%.3f", q.Perplexity), top1, kl, fmt.Sprintf("%+.3f", a.Drop[r]),
				fmt.Sprintf("%.1f", a.Latency.TTFTMs.P95), fmt.Sprintf("%.2f", a.Latency.TokenMs.P95), fmt.Sprintf("%.1f", a.Sustained.FloorTPS),
				fmt.Sprintf("%.1f", float64(a.Footprint.FileBytes)/(1<<20)), fmt.Sprintf("%.1f", float64(a.Footprint.KVCacheBytes)/(1<<20)), verdict)
			cells[len(cells)-1].Fail = verdict == "rejected"
			sum.Rows = append(sum.Rows, cells)
		}
	}
	doc.Tables = append(doc.Tables, sum)
	if len(rep.Comparisons) > 0 {
		t := table{Title: "Paired comparisons",
			Note:   fmt.Sprintf("A − B on the same golden items; [95%% paired-bootstrap interval, %d resamples]; McNemar's exact test on the items only one side gets right.", compareResamples),
			Header: []string{"A − B", "route", "items", "task score", "McNemar exact", "partial credit", "perplexity"}}
		for _, c := range rep.Comparisons {
			ppl := "-"
			if lp := c.LogPerplexityRatio; lp != nil {
				ppl = FormatRelative(*lp)
			}
			t.Rows = append(t.Rows, row(c.A+" − "+c.B, c.Route, fmt.Sprint(c.Items), FormatInterval(c.TaskScore),
				fmt.Sprintf("%d vs %d items, p = %.4g", c.McNemar.AOnly, c.McNemar.BOnly, c.McNemar.P), FormatInterval(c.Partial), ppl))
		}
		doc.Tables = append(doc.Tables, t)
	}
	kld := table{Title: "KL divergence from the baseline",
		Note:   "KL(baseline‖candidate) per scored token, as llama-perplexity --kl-divergence reports it (± is the standard error); Δp is the candidate's probability of the actual token minus the baseline's.",
		Header: []string{"artifact", "tokens of", "positions", "mean KLD", "median", "p90", "p95", "p99", "max", "same top", "mean Δp", "RMS Δp", "PPL ratio"}}
	for _, a := range rep.Artifacts {
		for _, set := range append(append([]string{}, routes...), HeldOutSet) {
			k := a.KLD[set]
			if k == nil {
				continue
			}
			kld.Rows = append(kld.Rows, row(a.Name, set, fmt.Sprint(k.Tokens), fmt.Sprintf("%.6f ± %.6f", k.MeanKLD, k.MeanKLDUnc),
				fmt.Sprintf("%.6f", k.KLDMedian), fmt.Sprintf("%.6f", k.KLDP90), fmt.Sprintf("%.6f", k.KLDP95), fmt.Sprintf("%.6f", k.KLDP99), fmt.Sprintf("%.6f", k.KLDMax),
				fmt.Sprintf("%.2f ± %.2f%%", 100*k.SameTop, 100*k.SameTopUnc), fmt.Sprintf("%+.3f ± %.3f%%", 100*k.MeanDeltaP, 100*k.MeanDeltaPUnc),
				fmt.Sprintf("%.3f%%", 100*k.RMSDeltaP), fmt.Sprintf("%.4f ± %.4f", k.PPLRatio, k.PPLRatioUnc)))
		}
	}
	if len(kld.Rows) > 0 {
		doc.Tables = append(doc.Tables, kld)
	}
	checks := table{Title: "Checks", Header: []string{"artifact", "route", "check", "value", "limit", "result"}}
	for _, a := range rep.Artifacts {
		for _, c := range a.Checks {
			cells := row(a.Name, c.Route, c.Name, strings.TrimSpace(fmt.Sprintf("%.4g %s", c.Value, c.Unit)), fmt.Sprintf("%s %.4g", c.Op, c.Limit), "pass")
			if !c.Pass {
				cells[5] = cell{Text: "FAIL", Fail: true}
			}
			checks.Rows = append(checks.Rows, cells)
		}
	}
	doc.Tables = append(doc.Tables, checks)
	return doc
}

// WriteTable writes the report as Markdown (gate.md): the verdict, the
// summary table (one row per artifact and route), the paired comparisons,
// the KL divergences and the checks.
func WriteTable(w io.Writer, rep *Report) {
	doc := buildDoc(rep)
	fmt.Fprintf(w, "# Gate report\n\n%s\n\n", doc.Summary)
	for _, n := range doc.Notes {
		fmt.Fprintf(w, "%s\n\n", n)
	}
	for i, t := range doc.Tables {
		if t.Title != "" {
			fmt.Fprintf(w, "\n## %s\n\n", t.Title)
		}
		if t.Note != "" {
			fmt.Fprintf(w, "%s\n\n", t.Note)
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(t.Header, " | "), strings.Repeat("---|", len(t.Header)))
		for _, r := range t.Rows {
			texts := make([]string, len(r))
			for k, c := range r {
				texts[k] = c.Text
				if c.Fail && i > 0 {
					texts[k] = "**" + c.Text + "**"
				}
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(texts, " | "))
		}
	}
	fmt.Fprintf(w, "\nApproved: %s\n", doc.Approved)
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
	n, top := 0, 0.0
	for _, a := range rep.Artifacts {
		if len(a.Sustained.Samples) > 0 {
			n++
			for _, v := range a.Sustained.Samples {
				top = max(top, v)
			}
		}
	}
	// Headroom above the highest sample for the legend's n rows, so that
	// it never covers a line: about 9% of the data area per row.
	p.Y.Max = top * (1.1 + 0.09*float64(n))
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

// latencyHistMax is the x range of the latency histogram: 1.25 × the
// largest p99 among the artifacts, so that a few slow outliers do not squeeze
// the bulk of the distribution into the first bins.
func latencyHistMax(rep *Report) float64 {
	hi := 0.0
	for _, a := range rep.Artifacts {
		if len(a.Latency.tokenRaw) >= 2 {
			hi = max(hi, percentiles(a.Latency.tokenRaw).P99)
		}
	}
	return 1.25 * hi
}

func plotLatencyHist(rep *Report) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Per-token decode latency"
	p.Y.Label.Text = "tokens"
	p.Legend.Top = true
	xMax := latencyHistMax(rep)
	p.X.Min, p.X.Max = 0, xMax
	const bins = 40
	any := false
	beyond, yMax, n := 0, 0.0, 0
	for i, a := range rep.Artifacts {
		if len(a.Latency.tokenRaw) < 2 {
			continue
		}
		var shown plotter.Values
		for _, v := range a.Latency.tokenRaw {
			if v <= xMax {
				shown = append(shown, v)
			}
		}
		if len(shown) == 0 {
			continue
		}
		// Bins of one width over [0, xMax] for every artifact.
		width := xMax / bins
		hb := make([]plotter.HistogramBin, bins)
		for k := range hb {
			hb[k].Min, hb[k].Max = float64(k)*width, float64(k+1)*width
		}
		for _, v := range shown {
			hb[min(bins-1, int(v/width))].Weight++
		}
		for _, b := range hb {
			yMax = max(yMax, b.Weight)
		}
		h := &plotter.Histogram{Bins: hb, Width: width, LineStyle: plotter.DefaultLineStyle}
		h.LineStyle.Color = palette[i%len(palette)]
		p.Add(h)
		p.Legend.Add(a.Name, h)
		beyond += len(a.Latency.tokenRaw) - len(shown)
		n++
		any = true
	}
	if !any {
		return nil, nil
	}
	p.X.Label.Text = fmt.Sprintf("ms (axis to 1.25 × the largest p99 = %.2f ms; %d slower tokens not drawn)", xMax, beyond)
	p.Y.Min, p.Y.Max = 0, yMax*(1.1+0.09*float64(n)) // room for the legend above the bars
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

// htmlTmpl renders report.html: the verdict, the summary table, the plots,
// then the other tables. Header cells wrap so that the widest table fits a
// laptop-sized window; a table wider than the page scrolls in its own box.
var htmlTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>distill gate report</title>
<style>
body{font-family:sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em}
.tablebox{overflow-x:auto;margin:0.5em 0 1.5em}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px}
th{background:#f2f2f2;font-weight:600;vertical-align:bottom;max-width:7em}
td{text-align:right}
td.text{white-space:nowrap}
td.text{text-align:left}
td.fail{color:#b00020;font-weight:bold}
.note{color:#444;font-size:14px}
img{max-width:100%;height:auto}
</style>
</head><body>
<h1>distill gate report</h1>
<p><b id="verdict">{{.Doc.Summary}}</b> — created {{.R.Created.Format "2006-01-02 15:04:05Z"}}</p>
{{range .Doc.Notes}}<p class="note">{{.}}</p>{{end}}
{{range $i, $t := .Doc.Tables}}
{{if $t.Title}}<h2>{{$t.Title}}</h2>{{else}}<h2>Summary</h2>{{end}}
{{if $t.Note}}<p class="note">{{$t.Note}}</p>{{end}}
<div class="tablebox"><table{{if eq $i 0}} id="summary"{{end}}>
<thead><tr>{{range $t.Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range $t.Rows}}<tr>{{range $k, $c := .}}<td class="{{if $c.Fail}}fail{{else if lt $k 2}}text{{end}}">{{$c.Text}}</td>{{end}}</tr>
{{end}}</tbody></table></div>
{{if eq $i 0}}{{range $.Images}}<p><img src="{{.}}" alt="{{.}}" width="700"></p>{{end}}{{end}}
{{end}}
<p>Approved: {{.Doc.Approved}}. Full measurements: <a href="gate.json">gate.json</a>, Markdown: <a href="gate.md">gate.md</a></p>
</body></html>
`))
