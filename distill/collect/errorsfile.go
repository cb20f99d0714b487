package collect

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distill-ml/distill/distill/collect/journal"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// writeErrors rewrites OUT/errors.jsonl from the journal: one line (id,
// reason, detail) per permanently failed prompt, sorted by prompt id.
func writeErrors(out string, j *journal.Journal) error {
	fails := j.Failures()
	sort.SliceStable(fails, func(a, b int) bool { return fails[a].ID < fails[b].ID })
	var sb strings.Builder
	for _, f := range fails {
		b, _ := json.Marshal(map[string]string{"id": f.ID, "reason": f.Reason, "detail": f.Detail})
		sb.Write(b)
		sb.WriteByte('\n')
	}
	return atomicfile.WriteFile(filepath.Join(out, ErrorsFile), []byte(sb.String()), 0o644)
}
