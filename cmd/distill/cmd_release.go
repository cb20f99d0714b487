package main

import (
	"fmt"

	"github.com/distill-ml/distill/distill/release"
	"github.com/spf13/cobra"
)

func newVerifyCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "verify MANIFEST|DIR",
		Short: "Recompute every hash of an artifact against its manifest.json; fails on any difference",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := release.Verify(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "ok: %s (%d files, model %s %s, gate approved: %v)\n", m.ID(), len(m.Files), m.Model.File, m.Model.QuantType, m.Gate.Approved)
			return nil
		},
	}
}

func newReleaseCmd(a *app) *cobra.Command {
	var storeDir string
	c := &cobra.Command{
		Use:   "release",
		Short: "Promote approved artifacts into a release store and roll back",
	}
	c.PersistentFlags().StringVar(&storeDir, "store", "release-store", "release store directory")
	c.AddCommand(&cobra.Command{
		Use:   "promote ARTIFACT_DIR",
		Short: "Verify a gate-approved artifact and make it the current release",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := release.Store{Dir: storeDir}.Promote(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "promoted %s; current release is now %s\n", args[0], id)
			return nil
		},
	}, &cobra.Command{
		Use:   "rollback",
		Short: "Make the previously promoted version current again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := release.Store{Dir: storeDir}.Rollback()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "rolled back; current release is now %s\n", id)
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Show the current release and the history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s := release.Store{Dir: storeDir}
			cur, err := s.Current()
			if err != nil {
				return err
			}
			evs, err := s.History()
			if err != nil {
				return err
			}
			if cur == "" {
				cur = "(none)"
			}
			fmt.Fprintf(a.stdout, "current: %s\n", cur)
			for _, e := range evs {
				fmt.Fprintf(a.stdout, "%s %-8s %s (was %s)\n", e.Time.Format("2006-01-02T15:04:05Z"), e.Action, e.ID, e.From)
			}
			return nil
		},
	})
	return c
}
