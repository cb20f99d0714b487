package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// trainRecord is one "train" line of metrics.jsonl.
type trainRecord struct {
	Kind         string  `json:"kind"` // "train"
	Step         int     `json:"step"` // 1-based update number
	Loss         float64 `json:"loss"` // α·KL + (1−α)·CE + γ·MSE, token-weighted over micro-batches
	CE           float64 `json:"ce"`
	KL           float64 `json:"kl"`
	MSE          float64 `json:"mse"`
	Tokens       int     `json:"tokens"` // loss tokens in the update
	LR           float64 `json:"lr"`
	GradNorm     float64 `json:"grad_norm"` // before clipping
	TokensPerSec float64 `json:"tokens_per_s"`
	StepSeconds  float64 `json:"step_s"`
	CPUSeconds   float64 `json:"cpu_s"` // process CPU time of the update, every thread (0 where unknown)
	// Online is present when a teacher is asked during training.
	Online *onlineRecord `json:"online,omitempty"`
}

// evalRecord is one "eval" line of metrics.jsonl (held-out set).
type evalRecord struct {
	Kind          string   `json:"kind"` // "eval"
	Step          int      `json:"step"`
	Loss          float64  `json:"loss"`
	CE            float64  `json:"ce"`
	KL            float64  `json:"kl"`
	MSE           float64  `json:"mse"`
	Perplexity    float64  `json:"ppl"` // exp(CE)
	Accuracy      float64  `json:"accuracy"`
	Top1Agreement *float64 `json:"top1_agreement"` // null when the set has no teacher signal
	Tokens        int      `json:"tokens"`
}

type skipRecord struct {
	Kind   string `json:"kind"` // "skip"
	Step   int    `json:"step"`
	Reason string `json:"reason"`
}

type point struct {
	step int
	loss float64
}

// metricsLog appends to <out>/metrics.jsonl and keeps the curves for the plot.
// Every row is written whole with one write(2) of the line and its newline
// (O_APPEND), so a killed run leaves complete rows (at most the very last
// one torn, by a crash inside the kernel's write); sync makes the rows so
// far durable and runs before each checkpoint.
type metricsLog struct {
	path              string
	f                 *os.File
	trainPts, evalPts []point
	onPolicyPts       []point // the divergence on the student's samples (on-policy mode)
	err               error
}

// openMetrics opens metrics.jsonl for appending. Lines from a previous run
// beyond step keepThrough (written after the checkpoint being resumed, so
// recomputed now) are dropped first, so the file describes one consistent
// history; keepThrough 0 starts an empty file. A last line without its
// newline that does not parse is the torn row of a killed run and is
// dropped (it is always past the checkpoint: rows up to a checkpoint are
// synced before it is written); a broken line before it is an error.
func openMetrics(outDir string, keepThrough int) (*metricsLog, error) {
	m := &metricsLog{path: filepath.Join(outDir, "metrics.jsonl")}
	old, err := os.ReadFile(m.path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var kept bytes.Buffer
	if keepThrough > 0 {
		lines := bytes.Split(old, []byte("\n"))
		for i, line := range lines {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var r struct {
				Kind   string  `json:"kind"`
				Step   int     `json:"step"`
				Loss   float64 `json:"loss"`
				Online *struct {
					Divergence *float64 `json:"onpolicy_divergence"`
				} `json:"online"`
			}
			if err := json.Unmarshal(line, &r); err != nil {
				if i == len(lines)-1 { // no newline after it: the torn tail
					break
				}
				return nil, fmt.Errorf("%s line %d: %w", m.path, i+1, err)
			}
			if r.Step > keepThrough {
				continue
			}
			kept.Write(line)
			kept.WriteByte('\n')
			switch r.Kind {
			case "train":
				m.trainPts = append(m.trainPts, point{r.Step, r.Loss})
				if r.Online != nil && r.Online.Divergence != nil {
					m.onPolicyPts = append(m.onPolicyPts, point{r.Step, *r.Online.Divergence})
				}
			case "eval":
				m.evalPts = append(m.evalPts, point{r.Step, r.Loss})
			}
		}
	}
	if err := atomicfile.WriteFile(m.path, kept.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if m.f, err = os.OpenFile(m.path, os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

// write appends one row: the JSON and its newline in a single write.
func (m *metricsLog) write(v any) {
	b, err := json.Marshal(v)
	if err == nil {
		_, err = m.f.Write(append(b, '\n'))
	}
	if err != nil && m.err == nil {
		m.err = err
	}
}

func (m *metricsLog) train(r trainRecord) {
	m.write(r)
	m.trainPts = append(m.trainPts, point{r.Step, r.Loss})
	if r.Online != nil && r.Online.SampledDivergence != nil {
		m.onPolicyPts = append(m.onPolicyPts, point{r.Step, *r.Online.SampledDivergence})
	}
}

func (m *metricsLog) eval(r evalRecord) {
	m.write(r)
	m.evalPts = append(m.evalPts, point{r.Step, r.Loss})
}

func (m *metricsLog) skip(step int, reason string) {
	m.write(skipRecord{Kind: "skip", Step: step, Reason: reason})
}

// sync makes the rows written so far durable and reports the first write
// error; the trainer calls it before writing a checkpoint.
func (m *metricsLog) sync() error {
	if err := m.f.Sync(); err != nil && m.err == nil {
		m.err = err
	}
	if m.err != nil {
		return fmt.Errorf("write %s: %w", m.path, m.err)
	}
	return nil
}

func (m *metricsLog) close() error {
	if err := m.f.Close(); err != nil && m.err == nil {
		m.err = err
	}
	return m.err
}

// plot renders the loss curves to a PNG (atomically).
func (m *metricsLog) plot(path string) error {
	p := plot.New()
	p.Title.Text = "distill training loss"
	p.X.Label.Text = "update"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())
	if len(m.trainPts) > 0 {
		l, err := plotter.NewLine(xys(m.trainPts))
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.Color = color.RGBA{R: 70, G: 130, B: 180, A: 255}
		p.Add(l)
		p.Legend.Add("train", l)
	}
	if len(m.onPolicyPts) > 0 {
		l, err := plotter.NewLine(xys(m.onPolicyPts))
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.Color = color.RGBA{R: 60, G: 160, B: 80, A: 255}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(l)
		p.Legend.Add("on-policy divergence (T²·D on samples)", l)
	}
	if len(m.evalPts) > 0 {
		l, s, err := plotter.NewLinePoints(xys(m.evalPts))
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.Color = color.RGBA{R: 220, G: 60, B: 40, A: 255}
		l.Width = vg.Points(2)
		s.Color = l.Color
		p.Add(l, s)
		p.Legend.Add("held-out", l, s)
	}
	p.Legend.Top = true
	wt, err := p.WriterTo(8*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	}); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func xys(pts []point) plotter.XYs {
	out := make(plotter.XYs, 0, len(pts))
	for _, p := range pts {
		// NaN/Inf would break the axis range; such updates are never logged, but be safe.
		if p.loss == p.loss && p.loss < 1e300 && p.loss > -1e300 {
			out = append(out, plotter.XY{X: float64(p.step), Y: p.loss})
		}
	}
	return out
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}
