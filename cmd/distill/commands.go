package main

import "github.com/spf13/cobra"

// subcommands lists every top-level subcommand. Each lives in its own file
// (cmd_<name>.go) owned by the package it fronts.
func subcommands(a *app) []*cobra.Command {
	return []*cobra.Command{
		newInspectCmd(a),
		newDataCmd(a),
		newTokenizerCmd(a),
		newVerifyCmd(a),
		newReleaseCmd(a),
		newCollectCmd(a),
		newGateCmd(a),
		newServeCmd(a),
		newRunCmd(a),
		newQuickstartCmd(a),
		newModelCmd(a),
		newTrainCmd(a),
		newExportCmd(a),
		newQuantizeCmd(a),
		newImatrixCmd(a),
		newGenerateCmd(a),
		newEvalCmd(a),
	}
}
