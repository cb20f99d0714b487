package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// runOutputs are the entries of out_dir a run writes; Overwrite deletes
// exactly these.
var runOutputs = []string{"checkpoints", "metrics.jsonl", "loss.png", "config.json", samplerFile}

// claimOutDir decides whether a run may write into outDir. A missing or
// empty directory is free. A non-empty one holds an earlier run (or
// something else): it is refused unless the run resumes (continuing that
// run in place) or overwrites (the earlier run's outputs are deleted first;
// other files are left alone; an init checkpoint inside outDir is refused). A fresh run silently restarting from step 0
// beside an old run's checkpoints is the failure this prevents.
func claimOutDir(outDir, init string, resume, overwrite bool) error {
	if resume && overwrite {
		return fmt.Errorf("out_dir %s: --resume and --overwrite contradict each other: give one", outDir)
	}
	ents, err := os.ReadDir(outDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("out_dir %s: %w", outDir, err)
	}
	if len(ents) == 0 || resume {
		return nil
	}
	if !overwrite {
		names := make([]string, 0, len(ents))
		for i, e := range ents {
			if i == 4 {
				names = append(names, fmt.Sprintf("… %d entries in all", len(ents)))
				break
			}
			names = append(names, e.Name())
		}
		return fmt.Errorf("out_dir %s is not empty (%s): pass --resume %s to continue the run there, or --overwrite to delete its checkpoints, metrics.jsonl, loss.png and config.json and start from step 0",
			outDir, strings.Join(names, ", "), filepath.Join(outDir, "checkpoints"))
	}
	if init != "" {
		if rel, err := filepath.Rel(outDir, init); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fmt.Errorf("out_dir %s: --overwrite would delete init %s, which lies inside it: copy the checkpoint elsewhere or choose another out_dir", outDir, init)
		}
	}
	for _, name := range runOutputs {
		if err := os.RemoveAll(filepath.Join(outDir, name)); err != nil {
			return fmt.Errorf("out_dir %s: --overwrite: %w", outDir, err)
		}
	}
	return nil
}
