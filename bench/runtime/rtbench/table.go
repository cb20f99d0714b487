package rtbench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Figures are one side's results on one file: best-repetition throughputs
// and the CPU time of the whole measurement.
type Figures struct {
	PromptTokS, DecodeTokS float64
	CPUSeconds             float64
}

// Row is one line of the comparison: one file, one thread count.
type Row struct {
	Shape, Type string
	FileBytes   int64
	Threads     int
	Ours        Figures
	Native      Figures  // llama-bench, built natively
	Prebuilt    *Figures // node-llama-cpp's prebuilt binary; nil when not measured
	// OursHugePages is ours with the weights copied to transparent huge
	// pages (infer.Options.HugePages) instead of mmapped; nil when not
	// measured.
	OursHugePages *Figures
	// OtherCores is the mean number of cores other processes used while the
	// row was measured (negative: unknown).
	OtherCores float64
	// RSSRatio is our RSS growth over file size + KV cache (0: unknown).
	RSSRatio float64
	// DecodeBytes is the weight bytes a decode step reads
	// (DecodeBytesPerToken); Bandwidth the read bandwidth (bytes/s) the same
	// thread count reached in the same run (ReadBandwidth). 0: unknown.
	DecodeBytes int64
	Bandwidth   float64
}

// DecodeBandwidthShare is the fraction of the measured read bandwidth ours
// and llama.cpp's decode use (NaN when unknown).
func (r Row) DecodeBandwidthShare() (ours, native float64) {
	return BandwidthShare(r.Ours.DecodeTokS, r.DecodeBytes, r.Bandwidth), BandwidthShare(r.Native.DecodeTokS, r.DecodeBytes, r.Bandwidth)
}

// PromptRatio and DecodeRatio are ours / native llama.cpp.
func (r Row) PromptRatio() float64 { return ratio(r.Ours.PromptTokS, r.Native.PromptTokS) }
func (r Row) DecodeRatio() float64 { return ratio(r.Ours.DecodeTokS, r.Native.DecodeTokS) }

func ratio(a, b float64) float64 {
	if b <= 0 || a <= 0 {
		return math.NaN()
	}
	return a / b
}

// TableOptions tune FormatTable.
type TableOptions struct {
	// LoadedCores marks rows measured while other processes used more than
	// this many cores (their ratios are unreliable on a shared machine).
	LoadedCores float64
}

// FormatTable writes rows as a Markdown table: tokens/s of ours and of the
// native llama.cpp with their ratio, CPU seconds, the other processes' load,
// our RSS over file + KV, and, when any row has them, the decode share of
// the read bandwidth, our decode with the weights on huge pages, and the prebuilt
// node-llama-cpp figures with ours' ratio to them. Rows measured under load
// are marked with † (explained below the table).
func FormatTable(w io.Writer, rows []Row, o TableOptions) error {
	prebuilt, bw, huge := false, false, false
	for _, r := range rows {
		prebuilt = prebuilt || r.Prebuilt != nil
		bw = bw || r.Bandwidth > 0
		huge = huge || r.OursHugePages != nil
	}
	var b strings.Builder
	b.WriteString("| model | type | file | threads | prompt tok/s ours / llama.cpp | prompt ratio | decode tok/s ours / llama.cpp | decode ratio | CPU s ours / llama.cpp | other load (cores) | RSS/(file+KV) |")
	sep := "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	if bw {
		b.WriteString(" decode share of read bandwidth ours / llama.cpp |")
		sep += "---:|"
	}
	if huge {
		b.WriteString(" decode tok/s, weights on huge pages (share of read bandwidth) |")
		sep += "---:|"
	}
	if prebuilt {
		b.WriteString(" prebuilt node-llama-cpp prompt / decode tok/s (ours ÷ prebuilt) |")
		sep += "---:|"
	}
	b.WriteString("\n" + sep + "\n")
	loaded := 0
	for _, r := range rows {
		mark := ""
		if r.OtherCores > o.LoadedCores {
			mark = " †"
			loaded++
		}
		other := "?"
		if r.OtherCores >= 0 {
			other = fmt.Sprintf("%.2f", r.OtherCores)
		}
		rss := "—"
		if r.RSSRatio > 0 {
			rss = fmt.Sprintf("%.2f", r.RSSRatio)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s / %s | %s%s | %s / %s | %s%s | %.1f / %.1f | %s | %s |",
			r.Shape, r.Type, mib(r.FileBytes), r.Threads,
			tokS(r.Ours.PromptTokS), tokS(r.Native.PromptTokS), ratioString(r.PromptRatio()), mark,
			tokS(r.Ours.DecodeTokS), tokS(r.Native.DecodeTokS), ratioString(r.DecodeRatio()), mark,
			r.Ours.CPUSeconds, r.Native.CPUSeconds, other, rss)
		if bw {
			o, n := r.DecodeBandwidthShare()
			fmt.Fprintf(&b, " %s / %s of %s |", percent(o), percent(n), gbs(r.Bandwidth))
		}
		if huge {
			if h := r.OursHugePages; h != nil {
				fmt.Fprintf(&b, " %s (%s) |", tokS(h.DecodeTokS), percent(BandwidthShare(h.DecodeTokS, r.DecodeBytes, r.Bandwidth)))
			} else {
				b.WriteString(" — |")
			}
		}
		if prebuilt {
			if p := r.Prebuilt; p != nil {
				fmt.Fprintf(&b, " %s / %s (%s / %s) |", tokS(p.PromptTokS), tokS(p.DecodeTokS),
					ratioString(ratio(r.Ours.PromptTokS, p.PromptTokS)), ratioString(ratio(r.Ours.DecodeTokS, p.DecodeTokS)))
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	if loaded > 0 {
		fmt.Fprintf(&b, "\n† measured while other processes used more than %.2f cores: the ratio is unreliable.\n", o.LoadedCores)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tokS prints a throughput with three significant digits or more.
func tokS(v float64) string {
	switch {
	case math.IsNaN(v) || v <= 0:
		return "—"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratioString(r float64) string {
	if math.IsNaN(r) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

func mib(n int64) string {
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

func percent(f float64) string {
	if math.IsNaN(f) {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*f)
}

func gbs(bps float64) string {
	if bps <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f GB/s", bps/1e9)
}
