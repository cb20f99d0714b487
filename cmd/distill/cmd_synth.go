package main

import (
	"fmt"
	"time"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/data/synth"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// newDataSynthCmd is `distill data synth`: generate the embedded default
// maintenance-policy corpus and golden set. Registered under `data` by cmd_data.go.
func newDataSynthCmd(a *app) *cobra.Command {
	cfg := synth.DefaultConfig()
	var out, configPath string
	var quiet bool
	c := &cobra.Command{
		Use:   "synth --out DIR [--seed N] [--scale X]",
		Short: "Generate the embedded default maintenance-policy corpus and golden set",
		Long: "Deterministically generates maintenance-policy manuals for a fleet of handheld scanners and\n" +
			"other equipment, reading-comprehension question/answer pairs that cite the right paragraph\n" +
			"or abstain, train/validation splits, a tokenizer corpus and the versioned golden set\n" +
			"(" + synth.GoldenVersion + ") from held-out manuals. Same seed and scale, same bytes.\n\n" +
			"Writes into DIR: " + synth.TrainFile + ", " + synth.ValidationFile + ", " + synth.GoldenFile + ", " +
			synth.TrainManualsFile + ",\n" + synth.ValidationManualsFile + ", " + synth.GoldenManualsFile + ", " +
			synth.TokenizerCorpusFile + ", " + synth.ManifestFile + " (sha256 of each).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("data synth: --out DIR is required")
			}
			if configPath != "" {
				// The file gives the base; flags given on the command line override it.
				fileCfg := synth.DefaultConfig()
				if err := configs.Load(configPath, &fileCfg); err != nil {
					return usageError{err}
				}
				// Bind the same flags to the file's config and replay the ones given.
				over := pflag.NewFlagSet("synth", pflag.ContinueOnError)
				bindSynthFlags(over, &fileCfg)
				var err error
				cmd.Flags().Visit(func(f *pflag.Flag) {
					if over.Lookup(f.Name) != nil && err == nil {
						err = over.Set(f.Name, f.Value.String())
					}
				})
				if err != nil {
					return usageError{err}
				}
				cfg = fileCfg
			}
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			start := time.Now()
			corpus, err := synth.Generate(cfg, synthProgress(a, quiet))
			if err != nil {
				return fmt.Errorf("data synth: %w", err)
			}
			m, err := corpus.Write(out)
			if err != nil {
				return fmt.Errorf("data synth: %w", err)
			}
			var total int64
			for _, f := range m.Files {
				total += f.Bytes
			}
			n := m.Counts
			fmt.Fprintf(a.stdout, "%s seed %d scale %g -> %s (%.1f MB in %s)\n", synth.CorpusVersion, cfg.Seed, cfg.Scale, out,
				float64(total)/1e6, time.Since(start).Round(time.Millisecond))
			fmt.Fprintf(a.stdout, "  train      %6d examples from %4d manuals (%d abstain)\n", n.TrainExamples, n.TrainManuals, n.TrainAbstain)
			fmt.Fprintf(a.stdout, "  validation %6d examples from %4d manuals\n", n.ValidationExamples, n.ValidationManuals)
			fmt.Fprintf(a.stdout, "  golden     %6d items    from %4d held-out manuals (%d abstain), %s\n", n.GoldenItems, n.GoldenManuals, n.GoldenAbstain, synth.GoldenVersion)
			for _, f := range m.Files {
				fmt.Fprintf(a.stdout, "  %-24s %10d bytes  sha256 %s\n", f.Name, f.Bytes, f.SHA256)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "output directory (created if missing)")
	bindSynthFlags(f, &cfg)
	f.BoolVar(&quiet, "quiet", false, "no progress output")
	f.StringVar(&configPath, "config", "", "YAML file with synth settings (seed, scale, golden_items, excerpt_min, ...); flags override it")
	return c
}

// bindSynthFlags binds the synth settings' flags to cfg, with cfg's values
// as defaults.
func bindSynthFlags(f *pflag.FlagSet, cfg *synth.Config) {
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed of the train/validation manuals and questions; the same seed gives byte-identical output (the versioned golden set does not depend on it)")
	f.Float64Var(&cfg.Scale, "scale", cfg.Scale, "size multiplier for train/validation (1 = about 16 MB); the golden set does not scale")
	f.IntVar(&cfg.GoldenItems, "golden", cfg.GoldenItems, "number of golden-set items (a prefix of the versioned set)")
	f.IntVar(&cfg.ExcerptMin, "excerpt-min", cfg.ExcerptMin, "fewest policy paragraphs per prompt")
	f.IntVar(&cfg.ExcerptMax, "excerpt-max", cfg.ExcerptMax, "most policy paragraphs per prompt")
	f.IntVar(&cfg.MaxChars, "max-chars", cfg.MaxChars, "upper bound on prompt+completion bytes")
	f.Float64Var(&cfg.AbstainRate, "abstain-rate", cfg.AbstainRate, "fraction of training questions the policy does not cover")
}

// synthProgress reports generation progress on stderr: a bar on a
// terminal, plain lines otherwise.
func synthProgress(a *app, quiet bool) func(done, total int) {
	if quiet {
		return nil
	}
	if bar := a.terminalBar("synth manuals", false); bar != nil {
		return func(done, total int) { bar(int64(done), int64(total)) }
	}
	last := -1
	return func(done, total int) {
		pct := 100 * done / total
		if pct/25 != last/25 || done == total {
			last = pct
			fmt.Fprintf(a.stderr, "synth: %d/%d manuals\n", done, total)
		}
	}
}
