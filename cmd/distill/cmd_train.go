package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/distill-ml/distill/distill/train"
)

func newTrainCmd(a *app) *cobra.Command {
	var (
		config    string
		sets      []string
		resume    string
		stopAfter int
		overwrite bool
	)
	cmd := &cobra.Command{
		Use:   "train --config FILE|PRESET [--set key=value ...] [--resume DIR | --overwrite]",
		Short: "Train the student (knowledge distillation or CE-only) with checkpoints and metrics",
		Long: "Train a student on a dataset written by `distill data import`/`distill collect`.\n" +
			"The config (e.g. the embedded train-kd or train-ce) names the student preset, the loss\n" +
			"(alpha·T²·KL + (1−alpha)·CE + gamma·MSE), the datasets and the optimisation settings;\n" +
			"--set overrides any key (train.steps=200). Writes <out_dir>/metrics.jsonl, loss.png and\n" +
			"checkpoints/step-N/ (safetensors). SIGINT/SIGTERM saves a checkpoint and stops;\n" +
			"--resume DIR continues bit-identically from a checkpoint (or the newest under DIR).\n" +
			"teacher.local.model (or teacher.openai) asks a teacher for every batch instead of stored\n" +
			"signals; train.on_policy.lambda > 0 lets the student complete that fraction of prompts itself\n" +
			"and trains on the teacher's scores of its samples (see configs/train-defaults.yaml).\n" +
			"A non-empty out_dir is refused unless --resume or --overwrite (deletes the earlier run's\n" +
			"checkpoints, metrics.jsonl, loss.png and config.json, then starts from step 0) is given.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if config == "" {
				return usagef("train needs --config FILE|PRESET (e.g. train-kd, train-ce)")
			}
			if resume != "" && overwrite {
				return usagef("--resume and --overwrite contradict each other: give one")
			}
			if stopAfter < 0 {
				return usagef("--stop-after must be >= 0")
			}
			cfg, err := train.Load(config, sets...)
			if err != nil {
				return err
			}
			// Prepare validates the config (once) before it reads any data.
			if cfg.Train.Threads > 0 {
				runtime.GOMAXPROCS(cfg.Train.Threads)
			}
			train.TuneGC()
			setup, err := train.Prepare(cfg, train.DatasetData{}, train.BuildStudent, a.stderr)
			if err != nil {
				return fmt.Errorf("%s: %w", config, err)
			}
			setup.Resume = resume
			setup.StopAfter = stopAfter
			setup.Overwrite = overwrite
			setup.Terminal = isTerminal(a.stderr)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := train.Run(ctx, setup)
			if err != nil {
				// Interrupted runs (train.ErrInterrupted) saved a checkpoint; the
				// message says where. Either way the run did not finish: exit 1.
				return fmt.Errorf("train: %w", err)
			}
			// The loss is the configured objective (CE, KD terms, hidden MSE);
			// the perplexity is exp(CE) of the same evaluation.
			fmt.Fprintf(a.stdout, "trained %d steps: train loss %.4f, held-out loss %.4f (CE %.4f nats/token, ppl exp(CE) %.2f)\ncheckpoint %s\nmetrics %s\nplot %s\n",
				res.Steps, res.TrainLoss, res.EvalLoss, math.Log(res.Perplexity), res.Perplexity, res.Checkpoint, res.MetricsPath, res.PlotPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "training config file or embedded preset (train-kd, train-ce)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config key (key.path=value), repeatable")
	cmd.Flags().StringVar(&resume, "resume", "", "checkpoint directory (or a checkpoints root: newest) to continue from")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "start from step 0 in a non-empty out_dir, deleting the earlier run's checkpoints and metrics")
	cmd.Flags().IntVar(&stopAfter, "stop-after", 0, "stop with a checkpoint after this many updates in total (the schedule still spans train.steps)")
	return cmd
}

// isTerminal reports whether w is a terminal (progress bar) rather than a
// pipe or file (plain lines).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
