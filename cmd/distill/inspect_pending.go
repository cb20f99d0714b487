package main

import "fmt"

// These three are replaced by the dataset (cmd_data.go) and GGUF (cmd_export.go)
// owners; each deletes its function from this file when it lands its own.

func inspectDatasetDir(a *app, path string) error {
	return fmt.Errorf("inspect %s: dataset directories are not readable by this build yet", path)
}

func inspectParquet(a *app, path string) error {
	return fmt.Errorf("inspect %s: Parquet shards are not readable by this build yet", path)
}
