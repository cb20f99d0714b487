package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
		if err := checkDatasetShards(path); err != nil {
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

// checkDatasetShards checks that every shard the manifest of dataset dir
// lists is the file it describes (size, sha256, a readable footer with the
// listed row count), so inspect never prints counts for missing, empty,
// truncated or altered shards. It does not decode rows (distill data
// validate does).
func checkDatasetShards(dir string) error {
	m, err := dataset.ReadManifest(dir)
	if err != nil {
		return err
	}
	for _, s := range m.Shards {
		path := filepath.Join(dir, s.File)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.File, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("shard %s: %w", path, err)
		}
		if n != s.Bytes {
			return fmt.Errorf("shard %s: %d bytes, the manifest lists %d (truncated or replaced)", path, n, s.Bytes)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != s.SHA256 {
			return fmt.Errorf("shard %s: sha256 %s, the manifest lists %s (the file was altered)", path, got, s.SHA256)
		}
		sr, err := dataset.OpenShard(path)
		if err != nil {
			return err
		}
		rows := sr.NumRows()
		sr.Close()
		if rows != s.Rows {
			return fmt.Errorf("shard %s: %d rows, the manifest lists %d", path, rows, s.Rows)
		}
	}
	return nil
}
