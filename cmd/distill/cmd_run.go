package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/pipeline"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		sets    []string
		force   bool
		profile string
	)
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml|PRESET [--profile NAME] [--set params.NAME=VALUE ...]",
		Short: "Run a pipeline of distill commands as resumable stages (synth/collect → train → export → quantize → gate)",
		Long: "Each stage is one distill command. A stage is keyed by the sha256 of its inputs and its\n" +
			"command line; a rerun skips current stages and reruns an interrupted or changed one.\n" +
			"A changed stage (or every stage under --force) replaces its declared outputs as a whole:\n" +
			"the previous ones wait beside them (NAME.pipeline-old) until it succeeds and are put back\n" +
			"if it fails. State is kept in <work>/pipeline-state.json.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPipeline(a, args[0], profile, sets, force)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a pipeline key (params.NAME=VALUE, work=DIR), repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "run every stage even when current")
	cmd.Flags().StringVar(&profile, "profile", "", "apply the pipeline's named set of parameter values (profiles: in the file); --set still overrides it")
	return cmd
}

func newQuickstartCmd(a *app) *cobra.Command {
	var (
		sets    []string
		force   bool
		work    string
		profile string
	)
	cmd := &cobra.Command{
		Use:   "quickstart [--work DIR] [--profile full] [--set params.NAME=VALUE ...]",
		Short: "Run the whole job on the embedded default: corpus, tokenizer, teacher, collection, KD student, export, quantize, gate",
		Long: "The embedded quickstart pipeline (configs/quickstart.yaml): no network, no downloads.\n" +
			"Prints the gate table (each export's quality drop, p95 latency, sustained floor, the approved\n" +
			"list), then the teacher's score, both students' exact and partial scores and KD − CE-only\n" +
			"paired over the golden items with 95% intervals. A failed gate still prints them; exit 1.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if work != "" {
				sets = append([]string{"work=" + work}, sets...)
			}
			return runPipeline(a, "quickstart", profile, sets, force)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a pipeline key (params.NAME=VALUE), repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "run every stage even when current")
	cmd.Flags().StringVar(&work, "work", "", "working directory (default runs/quickstart)")
	cmd.Flags().StringVar(&profile, "profile", "", "named parameter set of configs/quickstart.yaml (full: the longer teacher); --set still overrides it")
	return cmd
}

func runPipeline(a *app, name, profile string, sets []string, force bool) error {
	var cfg pipeline.Config
	if err := configs.Load(name, &cfg, sets...); err != nil {
		return err
	}
	if profile != "" {
		// The profile's values go under the explicit overrides, which win.
		ps, err := cfg.ProfileSets(profile)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cfg = pipeline.Config{}
		if err := configs.Load(name, &cfg, append(ps, sets...)...); err != nil {
			return err
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var failures []string
	exec := func(ctx context.Context, args []string) error {
		fmt.Fprintf(a.stderr, "$ distill %s\n", joinArgs(args))
		if code := run(args, a.stdout, a.stderr); code != 0 {
			return fmt.Errorf("distill %s exited %d", args[0], code)
		}
		return nil
	}
	stages, err := cfg.Build(exec, func(stage string, err error) { failures = append(failures, stage+": "+err.Error()) })
	if err != nil {
		return err
	}
	r := &pipeline.Runner{StateFile: filepath.Join(cfg.Work, "pipeline-state.json"), Log: a.stderr, Force: force}
	results, err := r.Run(context.Background(), stages)
	if err != nil {
		return fmt.Errorf("%s: %w (rerun the same command to resume)", cfg.Name, err)
	}
	total := 0.0
	for _, res := range results {
		total += res.Seconds
	}
	fmt.Fprintf(a.stdout, "\n%s: %d stages (%d skipped as current) in %.0fs; work directory %s\n", cfg.Name, len(results), countSkipped(results), total, cfg.Work)
	if g := filepath.Join(cfg.Work, "gate", "gate.json"); fileExists(g) {
		if err := printGateSummary(a, g); err != nil && (!errors.Is(err, errGateFailed) || len(failures) == 0) {
			return fmt.Errorf("%s: %w", cfg.Name, err)
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%s: %v", cfg.Name, failures)
	}
	return nil
}

func countSkipped(rs []pipeline.Result) int {
	n := 0
	for _, r := range rs {
		if r.Skipped {
			n++
		}
	}
	return n
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func joinArgs(args []string) string {
	out := ""
	for i, s := range args {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}

// printGateSummary states the result in words: the teacher's score first
// (and, when it answers none of the answerable questions, that KD cannot
// transfer a skill the teacher lacks), each student's exact and partial
// score, KD against CE-only paired item by item with 95% intervals, and the
// gate's verdict.
func printGateSummary(a *app, path string) error {
	rep, err := gate.ReadReport(path)
	if err != nil {
		return err
	}
	routes := make([]string, 0, len(rep.Config.Routes))
	for r := range rep.Config.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	var base, ref, teacher *gate.Artifact
	for _, art := range rep.Artifacts {
		switch {
		case art.Baseline:
			base = art
		case art.Reference && ref == nil:
			ref = art
		case art.Teacher:
			teacher = art
		}
	}
	line := func(label string, art *gate.Artifact, r string) {
		q := art.Quality[r]
		if q == nil {
			return
		}
		fmt.Fprintf(a.stdout, "%s (%s): answers %d of %d golden questions correctly (%.1f%%), %d of %d answerable; partial credit %.3f, perplexity %.2f\n",
			label, art.Name, q.Correct, q.Items, 100*q.TaskScore, q.AnswerableCorrect, q.Answerable, q.PartialScore, q.Perplexity)
	}
	for _, r := range routes {
		if teacher != nil {
			line("teacher", teacher, r)
			if q := teacher.Quality[r]; q != nil && q.Answerable > 0 && q.AnswerableCorrect == 0 {
				fmt.Fprintf(a.stdout, "the teacher answers none of the %d answerable golden questions (at best the always-abstain floor): KD cannot transfer a skill the teacher lacks\n", q.Answerable)
			}
		}
		if base != nil {
			line("distilled student", base, r)
		}
		if ref == nil {
			continue
		}
		line("CE-only student  ", ref, r)
		if base == nil || base.Quality[r] == nil || ref.Quality[r] == nil {
			continue
		}
		var cmp *gate.Comparison
		for i, c := range rep.Comparisons {
			if c.Route == r && c.A == base.Name && c.B == ref.Name {
				cmp = &rep.Comparisons[i]
			}
		}
		if cmp != nil {
			ppl := ""
			if cmp.LogPerplexityRatio != nil {
				ppl = "; golden perplexity " + gate.FormatRelative(*cmp.LogPerplexityRatio)
			}
			fmt.Fprintf(a.stdout, "KD − CE-only, paired over %d golden questions [%.0f%% bootstrap interval]: task score %s, McNemar exact p = %.3g (%d vs %d items); partial credit %s%s\n",
				cmp.Items, 100*cmp.TaskScore.Level, gate.FormatInterval(cmp.TaskScore), cmp.McNemar.P, cmp.McNemar.AOnly, cmp.McNemar.BOnly, gate.FormatInterval(cmp.Partial), ppl)
		}
		fmt.Fprintf(a.stdout, "%s; perplexity on golden answers %.2f (KD) vs %.2f (CE-only)\n",
			kdVerdict(base.Quality[r].TaskScore-ref.Quality[r].TaskScore, cmp), base.Quality[r].Perplexity, ref.Quality[r].Perplexity)
		if base.Quality[r].Answerable > 0 && base.Quality[r].AnswerableCorrect == 0 && ref.Quality[r].AnswerableCorrect == 0 {
			fmt.Fprintf(a.stdout, "neither student answers any of the %d answerable golden questions: their task scores differ only in abstentions\n", base.Quality[r].Answerable)
		}
	}
	fmt.Fprintf(a.stdout, "gate: %s\n", rep.Summary)
	if !rep.Pass {
		return errGateFailed
	}
	return nil
}

// errGateFailed is printGateSummary's answer for a gate.json whose verdict is
// FAIL: the run exits non-zero also when the gate stage was skipped as
// current (a failed gate is a non-zero exit on every run, not only the first).
var errGateFailed = errors.New("the gate failed (see its summary above)")

// kdVerdict says whether KD beat CE-only on the exact task score (d, the
// difference in fraction correct), counting a win only when the paired 95%
// interval lies above zero and McNemar's exact test gives p < 0.05, and what
// the intervals say on partial credit and
// golden perplexity. cmp is nil for a gate.json without comparisons.
func kdVerdict(d float64, cmp *gate.Comparison) string {
	if cmp == nil {
		if d > 0 {
			return fmt.Sprintf("KD beat CE-only by %.1f points of task score (no paired interval in this gate.json)", 100*d)
		}
		return fmt.Sprintf("KD did not beat CE-only (%+.1f points of task score)", 100*d)
	}
	var v string
	switch {
	case d > 0 && cmp.TaskScore.Lo > 0 && cmp.McNemar.P < 0.05:
		v = fmt.Sprintf("KD beat CE-only by %.1f points of task score (the 95%% interval lies above zero, McNemar exact p = %.3g)", 100*d, cmp.McNemar.P)
	case d > 0 && cmp.TaskScore.Lo > 0:
		// The percentile interval is optimistic with few discordant items;
		// the exact score's test is McNemar's.
		v = fmt.Sprintf("KD did not clearly beat CE-only on task score (%+.1f points: the bootstrap interval lies above zero but McNemar exact p = %.3g)", 100*d, cmp.McNemar.P)
	case d > 0:
		v = fmt.Sprintf("KD did not clearly beat CE-only on task score (%+.1f points, the 95%% interval includes zero)", 100*d)
	default:
		v = fmt.Sprintf("KD did not beat CE-only (%+.1f points of task score)", 100*d)
	}
	var ahead, behind []string
	if cmp.Partial.Lo > 0 {
		ahead = append(ahead, "partial credit")
	} else if cmp.Partial.Hi < 0 {
		behind = append(behind, "partial credit")
	}
	if lp := cmp.LogPerplexityRatio; lp != nil { // lower perplexity is better
		if lp.Hi < 0 {
			ahead = append(ahead, "golden perplexity")
		} else if lp.Lo > 0 {
			behind = append(behind, "golden perplexity")
		}
	}
	if len(ahead) > 0 {
		v += "; KD is ahead on " + strings.Join(ahead, " and on ") + " (intervals exclude zero)"
	}
	if len(behind) > 0 {
		v += "; KD is behind on " + strings.Join(behind, " and on ") + " (intervals exclude zero)"
	}
	if len(ahead)+len(behind) == 0 {
		v += "; no clear difference on partial credit or golden perplexity"
	}
	return v
}
