package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/synth"
	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/gate"
	"github.com/distill-ml/distill/distill/release"
	"github.com/distill-ml/distill/model/infer"
)

func newGateCmd(a *app) *cobra.Command {
	var (
		config, baseline, out string
		trainRun, signKey     string
		teacher               string
		candidates, refs      []string
		sets                  []string
	)
	cmd := &cobra.Command{
		Use:   "gate --config FILE --baseline F32.gguf --candidates A.gguf,B.gguf [--reference C.gguf] [--teacher T.gguf] [--out DIR]",
		Short: "Measure exported artifacts against the launch bars; exit 1 unless every required candidate passes",
		Long: "Runs the baseline (the unquantized student) and each candidate on the versioned golden set\n" +
			"with the production prompt template: task score (answer + citation, abstention) with partial\n" +
			"credit beside it, perplexity, latency p50/p95/p99 after warm-up, a sustained decode run (burst,\n" +
			"floor) and footprint (size, peak RSS, KV cache). With --teacher (or teacher: in the config) the\n" +
			"teacher is scored too, candidates are held to max_drop_vs_teacher and agreement is measured.\n" +
			"References (e.g. the CE-only student) are measured for comparison only and paired with the\n" +
			"baseline item by item (bootstrap intervals, McNemar). Writes gate.json, gate.md, report.html\n" +
			"and plots into --out.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if config == "" || baseline == "" || len(candidates) == 0 {
				return usagef("gate needs --config, --baseline and --candidates")
			}
			var key ed25519.PrivateKey // read before measuring: a bad key fails in seconds, not after the run
			if signKey != "" {
				var err error
				if key, err = release.ReadPrivateKey(signKey); err != nil {
					return err
				}
			}
			var cfg gate.Config
			if err := configs.Load(config, &cfg, sets...); err != nil {
				return err
			}
			if teacher != "" {
				cfg.Teacher = teacher
			}
			cfg.Defaults()
			if err := cfg.Validate(); err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			routes := map[string][]gate.Item{}
			for name, r := range cfg.Routes {
				items, err := goldenItems(r.Golden)
				if err != nil {
					return err
				}
				routes[name] = items
			}
			rep, err := gate.Run(cfg, gate.Options{
				Baseline: baseline, Candidates: splitList(candidates), References: splitList(refs),
				Routes: routes, Engine: engine.GateEngine{Options: infer.Options{}}, Progress: a.stderr,
			})
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			if err := gate.WriteReports(out, rep); err != nil {
				return err
			}
			gate.WriteTable(a.stdout, rep)
			fmt.Fprintf(a.stdout, "\nreports: %s/gate.json, %s/gate.md, %s/report.html\n", out, out, out)
			// No LlamaCppBuild: the gate runs distill's runtime only, and a
			// manifest records a llama.cpp build only when one checked the file.
			dirs, err := gate.WriteReleases(filepath.Join(out, "release"), rep, gate.Provenance{
				TrainRun: trainRun, DistillVersion: version})
			if err != nil {
				return fmt.Errorf("gate: release manifests: %w", err)
			}
			for _, d := range dirs {
				fmt.Fprintf(a.stdout, "approved artifact with manifest: %s\n", d)
			}
			if key != nil && rep.Pass {
				for _, d := range dirs {
					if _, err := release.Sign(d, key); err != nil {
						return fmt.Errorf("gate: %w", err)
					}
					fmt.Fprintf(a.stdout, "signed: %s/%s\n", d, release.SignatureName)
				}
			}
			if !rep.Pass {
				return errors.New("gate failed: " + strings.TrimPrefix(rep.Summary, "FAIL: "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "gate config (YAML or embedded preset, e.g. gate)")
	cmd.Flags().StringVar(&baseline, "baseline", "", "the unquantized student GGUF")
	cmd.Flags().StringSliceVar(&candidates, "candidates", nil, "candidate GGUF files (comma-separated or repeated)")
	cmd.Flags().StringSliceVar(&refs, "reference", nil, "artifacts measured for comparison only (e.g. the CE-only student)")
	cmd.Flags().StringVar(&teacher, "teacher", "", "teacher GGUF: scored on the golden set, the reference of max_drop_vs_teacher and of agreement (overrides teacher: in the config)")
	cmd.Flags().StringVar(&out, "out", "gate-report", "directory for gate.json, gate.md, report.html")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key (key.path=value), repeatable")
	cmd.Flags().StringVar(&signKey, "sign-key", "", "ed25519 private key (distill release keygen): when the gate passes, sign each approved release directory (manifest.json.sig)")
	cmd.Flags().StringVar(&trainRun, "train-run", "", "the student's training run directory, for the manifest's provenance (config and dataset hashes, teacher, policy)")
	return cmd
}

func splitList(xs []string) []string {
	var out []string
	for _, x := range xs {
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// goldenItems reads a synth golden set as gate items graded by synth.Score.
func goldenItems(path string) ([]gate.Item, error) {
	golden, err := synth.ReadGolden(path)
	if err != nil {
		return nil, err
	}
	items := make([]gate.Item, len(golden))
	for i, g := range golden {
		g := g
		items[i] = gate.Item{
			ID: g.ID, Prompt: g.Prompt, Completion: g.Completion(), Stop: []string{synth.StopSequence},
			Score: func(out string) gate.Grade {
				r := synth.Score(g, out)
				reason := ""
				if !r.Correct {
					reason = string(r.Verdict)
				}
				return gate.Grade{Correct: r.Correct, Reason: reason, Partial: r.Partial, Answerable: !g.Abstain,
					FactFraction: r.FactFraction(), CitationCorrect: r.CitationCorrect, AbstentionCorrect: r.AbstentionCorrect}
			},
		}
	}
	return items, nil
}
