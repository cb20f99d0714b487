package gate

import (
	"bytes"
	"encoding/json"
	"html"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distill-ml/distill/internal/testpeers"
)

// latencyReport is a gate run whose decode gaps are 1–4 ms but for one
// token in 150 at 25 ms, as a loaded machine produces.
func latencyReport(t *testing.T) *Report {
	t.Helper()
	_, paths, clock, eng, its := setup(t)
	for _, m := range eng.models {
		m.perToken = func(n int) time.Duration {
			if n%150 == 149 {
				return 25 * time.Millisecond
			}
			return time.Duration(1000+n%7*450) * time.Microsecond
		}
	}
	cfg := baseConfig()
	r := cfg.Routes["policy"]
	r.Thresholds.MaxQualityDrop = 0.5
	cfg.Routes["policy"] = r
	rep, err := Run(cfg, Options{Baseline: paths[0], Candidates: paths[1:], Routes: map[string][]Item{"policy": its}, Engine: eng, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestReportHTMLIsReadable (issue 17 item 10): the summary is an HTML
// table (not Markdown in <pre>), the latency histogram's x range comes
// from the p99s (a 25 ms outlier does not squeeze data under 5 ms), and the
// sustained plot leaves room above its lines for the legend.
func TestReportHTMLIsReadable(t *testing.T) {
	rep := latencyReport(t)
	dir := t.TempDir()
	if err := WriteReports(dir, rep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if strings.Contains(page, "<pre>") || strings.Contains(page, "|---|") {
		t.Errorf("report.html still holds Markdown")
	}
	if !strings.Contains(page, `<table id="summary">`) || !strings.Contains(page, "<td class=\"text\">student-q8_0</td>") {
		t.Errorf("report.html has no summary table with the artifacts")
	}
	if xMax := latencyHistMax(rep); xMax <= 4 || xMax >= 10 {
		t.Errorf("latency histogram x range up to %.2f ms; the data lies in 1–4 ms and 25 ms is an outlier beyond p99", xMax)
	}
	p, err := plotSustained(rep)
	if err != nil {
		t.Fatal(err)
	}
	top := 0.0
	for _, a := range rep.Artifacts {
		for _, v := range a.Sustained.Samples {
			top = max(top, v)
		}
	}
	if p.Y.Max < top*1.2 {
		t.Errorf("sustained plot's y range ends at %.1f, the highest sample is %.1f: no room for the legend", p.Y.Max, top)
	}
}

// TestReportRendersInBrowser renders report.html in headless chromium as a
// person would open it: the DOM has the summary table with one row per
// artifact, every plot image loads, and neither the page nor any table
// needs horizontal scrolling in a 1280-pixel window; the screenshot
// is a real image (set DISTILL_REPORT_SCREENSHOT=FILE to keep it and look).
func TestReportRendersInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("renders in headless chromium (~10 s); skipped under -short")
	}
	rep := latencyReport(t)
	dir := t.TempDir()
	if err := WriteReports(dir, rep); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.html")
	b, _ := os.ReadFile(report)
	// A copy that measures the layout once loaded and records it in the DOM.
	probe := strings.Replace(string(b), "</body>", `<script>
window.addEventListener('load', () => {
  const t = document.getElementById('summary'), de = document.documentElement;
  const tableOverflow = Math.max(...Array.from(document.querySelectorAll('table')).map(x => x.scrollWidth - x.parentElement.clientWidth));
  document.body.setAttribute('data-measure', JSON.stringify({
    pageOverflow: de.scrollWidth - de.clientWidth, tableOverflow: tableOverflow,
    rows: t.tBodies[0].rows.length, images: Array.from(document.images).map(i => i.naturalWidth)}));
});
</script></body>`, 1)
	probePath := filepath.Join(dir, "probe.html")
	if err := os.WriteFile(probePath, []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := testpeers.RunChromium(t, "file://"+probePath, 1280, 1600, "--dump-dom")
	m := regexp.MustCompile(`data-measure="([^"]*)"`).FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the page's load handler did not run; DOM:\n%.2000s", dom)
	}
	var got struct {
		PageOverflow, TableOverflow, Rows int
		Images                            []int
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &got); err != nil {
		t.Fatal(err)
	}
	if got.Rows != len(rep.Artifacts) || got.PageOverflow > 0 || got.TableOverflow > 0 || len(got.Images) != 3 {
		t.Errorf("rendered: %+v; want %d summary rows, no horizontal overflow, 3 images", got, len(rep.Artifacts))
	}
	for i, w := range got.Images {
		if w == 0 {
			t.Errorf("image %d did not load", i)
		}
	}
	shot := filepath.Join(dir, "report.png")
	testpeers.RunChromium(t, "file://"+report, 1280, 2600, "--screenshot="+shot)
	f, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(f))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if bnd := img.Bounds(); bnd.Dx() != 1280 {
		t.Errorf("screenshot %v", bnd)
	}
	if keep := os.Getenv("DISTILL_REPORT_SCREENSHOT"); keep != "" {
		os.WriteFile(keep, f, 0o644)
	}
}

// TestLatencyHistogramLegendAboveBars: the histogram's y range leaves room
// above the tallest bin for the legend rows.
func TestLatencyHistogramLegendAboveBars(t *testing.T) {
	rep := latencyReport(t)
	p, err := plotLatencyHist(rep)
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	// The tallest bin: at most every token of one artifact.
	tallest := 0
	for _, a := range rep.Artifacts {
		counts := map[int]int{}
		for _, v := range a.Latency.tokenRaw {
			if v <= p.X.Max {
				k := min(39, int(v/(p.X.Max/40)))
				counts[k]++
				tallest = max(tallest, counts[k])
			}
		}
	}
	if p.Y.Max < 1.2*float64(tallest) {
		t.Errorf("histogram y range ends at %.0f, tallest bin %d: the legend covers the bars", p.Y.Max, tallest)
	}
}

func TestReadReportReadsWhatWriteReportsWrote(t *testing.T) {
	rep := latencyReport(t)
	dir := t.TempDir()
	if err := WriteReports(dir, rep); err != nil {
		t.Fatal(err)
	}
	got, err := ReadReport(filepath.Join(dir, "gate.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(rep)
	back, _ := json.Marshal(got)
	if !bytes.Equal(want, back) {
		t.Fatalf("gate.json read back differs:\nwrote %s\nread  %s", want, back)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"artifacts": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadReport(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("ReadReport(%s) = %v, want an error naming the file", bad, err)
	}
}
