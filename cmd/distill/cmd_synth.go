package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newDataSynthCmd is replaced by the synth owner.
func newDataSynthCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "synth",
		Short: "Generate the embedded default maintenance-policy corpus (not in this build yet)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("data synth: not in this build yet")
		},
	}
}
