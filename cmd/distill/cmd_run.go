package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/pipeline"
)

func newRunCmd(a *app) *cobra.Command {
	var (
		sets  []string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml|PRESET [--set params.NAME=VALUE ...]",
		Short: "Run a pipeline of distill commands as resumable stages (synth/collect → train → export → quantize → gate)",
		Long: "Each stage is one distill command. A stage is keyed by the sha256 of its inputs and its\n" +
			"command line; a rerun skips current stages and reruns an interrupted or changed one.\n" +
			"State is kept in <work>/pipeline-state.json.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPipeline(a, args[0], sets, force)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a pipeline key (params.NAME=VALUE, work=DIR), repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "run every stage even when current")
	return cmd
}

func newQuickstartCmd(a *app) *cobra.Command {
	var (
		sets  []string
		force bool
		work  string
	)
	cmd := &cobra.Command{
		Use:   "quickstart [--work DIR] [--set params.NAME=VALUE ...]",
		Short: "Run the whole job on the embedded default: corpus, tokenizer, teacher, collection, KD student, export, quantize, gate",
		Long: "The embedded quickstart pipeline (configs/quickstart.yaml): no network, no downloads.\n" +
			"Prints the gate table: the distilled student against the CE-only student, each export's\n" +
			"quality drop, p95 latency, sustained floor and the approved list.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if work != "" {
				sets = append([]string{"work=" + work}, sets...)
			}
			return runPipeline(a, "quickstart", sets, force)
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a pipeline key (params.NAME=VALUE), repeatable")
	cmd.Flags().BoolVar(&force, "force", false, "run every stage even when current")
	cmd.Flags().StringVar(&work, "work", "", "working directory (default runs/quickstart)")
	return cmd
}

func runPipeline(a *app, name string, sets []string, force bool) error {
	var cfg pipeline.Config
	if err := configs.Load(name, &cfg, sets...); err != nil {
		return err
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
		if err := printGateSummary(a, g); err != nil {
			return err
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

// printGateSummary states the result in words: which fraction of golden
// questions each student answers correctly, KD against CE-only, the approved list.
func printGateSummary(a *app, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep gate.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	routes := make([]string, 0, len(rep.Config.Routes))
	for r := range rep.Config.Routes {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	var base, ref *gate.Artifact
	for _, art := range rep.Artifacts {
		if art.Baseline {
			base = art
		}
		if art.Reference && ref == nil {
			ref = art
		}
	}
	for _, r := range routes {
		if base != nil {
			q := base.Quality[r]
			fmt.Fprintf(a.stdout, "distilled student (%s): answers %d of %d golden questions correctly (%.1f%%), perplexity %.2f\n", base.Name, q.Correct, q.Items, 100*q.TaskScore, q.Perplexity)
		}
		if ref != nil {
			q := ref.Quality[r]
			fmt.Fprintf(a.stdout, "CE-only student   (%s): answers %d of %d golden questions correctly (%.1f%%), perplexity %.2f\n", ref.Name, q.Correct, q.Items, 100*q.TaskScore, q.Perplexity)
			if base != nil {
				d := base.Quality[r].TaskScore - q.TaskScore
				verdict := fmt.Sprintf("KD beat CE-only by %.1f points of task score", 100*d)
				if d <= 0 {
					verdict = fmt.Sprintf("KD did not beat CE-only (%+.1f points of task score)", 100*d)
				}
				fmt.Fprintf(a.stdout, "%s; perplexity on golden answers %.2f (KD) vs %.2f (CE-only)\n", verdict, base.Quality[r].Perplexity, q.Perplexity)
			}
		}
	}
	fmt.Fprintf(a.stdout, "gate: %s\n", rep.Summary)
	return nil
}
