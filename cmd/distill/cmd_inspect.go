package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/spf13/cobra"
)

func newInspectCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect PATH",
		Short: "Describe a distill artifact (Parquet dataset shard or directory, GGUF model)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectPath(a, args[0])
		},
	}
}

// inspectPath detects what PATH is by its magic bytes and describes it.
func inspectPath(a *app, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	if st.IsDir() {
		if err := dataset.VerifyShards(path); err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		return inspectDatasetDir(a, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err != nil {
		return fmt.Errorf("inspect %s: too short to identify (%v)", path, err)
	}
	switch {
	case bytes.Equal(magic, []byte("PAR1")):
		return inspectParquet(a, path)
	case bytes.Equal(magic, []byte("GGUF")):
		return inspectGGUF(a, path)
	}
	return fmt.Errorf("inspect %s: unknown file type (magic %q): want a Parquet shard, a dataset directory or a GGUF file", path, magic)
}
