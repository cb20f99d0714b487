package collect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/journal"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// commitSegment writes recs as a complete mini-dataset under a temporary
// name, renames it into place, then journals it.
func commitSegment(out string, j *journal.Journal, meta dataset.Meta, recs []*dataset.Record, ids []string) error {
	segs := filepath.Join(out, SegmentsDir)
	name := fmt.Sprintf("seg-%06d", len(j.Shards()))
	for {
		if _, err := os.Stat(filepath.Join(segs, name)); errors.Is(err, os.ErrNotExist) {
			break
		}
		name += "b" // an orphan that survived removal (should not happen): never overwrite
	}
	tmp, err := atomicfile.MkdirTemp(segs, name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	w, err := dataset.Create(tmp, meta, dataset.WriterOptions{})
	if err != nil {
		return err
	}
	for i, r := range recs {
		if err := w.Write(r); err != nil {
			return fmt.Errorf("segment %s prompt %s: %w", name, ids[i], err)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(segs, name)); err != nil {
		return fmt.Errorf("commit segment: %w", err)
	}
	if err := atomicfile.SyncDir(segs); err != nil {
		return err
	}
	h, err := fileSHA(filepath.Join(segs, name, dataset.ManifestName))
	if err != nil {
		return err
	}
	teacherRows := 0
	for _, r := range recs {
		if r.TopKIDs != nil {
			teacherRows++
		}
	}
	return j.CommitShard(name, h, ids, teacherRows)
}

// removeOrphans deletes segment directories no journal record names (written
// but never acknowledged) and leftover temporaries, so their prompts are
// collected again.
func removeOrphans(out string, j *journal.Journal) error {
	segs := filepath.Join(out, SegmentsDir)
	entries, err := os.ReadDir(segs)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			if err := os.RemoveAll(filepath.Join(segs, e.Name())); err != nil {
				return err
			}
			continue
		}
		names = append(names, e.Name())
	}
	for _, o := range j.Orphans(names) {
		if err := os.RemoveAll(filepath.Join(segs, o)); err != nil {
			return err
		}
	}
	for _, s := range j.Shards() {
		if _, err := os.Stat(filepath.Join(segs, s.File, dataset.ManifestName)); err != nil {
			return fmt.Errorf("collect: journal names segment %s but it is missing or incomplete (%v); restore it or start a new output directory", s.File, err)
		}
	}
	return nil
}

// checkSegmentsMeta refuses to resume into an output whose committed
// segments were collected with different settings.
func checkSegmentsMeta(out string, j *journal.Journal, meta *dataset.Meta) error {
	shards := j.Shards()
	if len(shards) == 0 {
		return nil
	}
	m, err := dataset.ReadManifest(filepath.Join(out, SegmentsDir, shards[0].File))
	if err != nil {
		return err
	}
	want := *meta
	want.SchemaVersion, want.LogprobScale = m.Meta.SchemaVersion, m.Meta.LogprobScale
	if want.WriterVersion == "" {
		want.WriterVersion = m.Meta.WriterVersion
	}
	if err := m.Meta.Equal(&want); err != nil {
		return fmt.Errorf("collect: %s holds segments collected with other settings than this run's (existing vs this run: %w): use a new output directory", out, err)
	}
	return nil
}

// buildDataset assembles OUT/dataset from every committed segment, in commit
// order, replacing the previous build (dataset.LinkShards: the segments'
// Parquet files are hard-linked under one manifest, nothing is re-encoded
// and the data is on disk once). A prompt is in at most one segment (the
// journal settles it once), so rows are unique.
func buildDataset(out string, j *journal.Journal, meta dataset.Meta, sum *Summary) error {
	tmp, err := atomicfile.MkdirTemp(out, DatasetDir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	shards := j.Shards()
	if len(shards) == 0 {
		w, err := dataset.Create(tmp, meta, dataset.WriterOptions{})
		if err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	} else {
		dirs := make([]string, len(shards))
		journaled := make(map[string]int, len(shards)) // segment directory → prompts the journal names
		for i, s := range shards {
			dirs[i] = filepath.Join(out, SegmentsDir, s.File)
			journaled[dirs[i]] = len(s.IDs)
			sum.TeacherRows += int64(s.TeacherRows)
		}
		m, err := dataset.LinkShards(tmp, dirs, dataset.LinkOptions{Check: func(dir string, sm *dataset.Manifest) error {
			if sm.Rows != int64(journaled[dir]) {
				return fmt.Errorf("segment holds %d rows, the journal names %d prompts", sm.Rows, journaled[dir])
			}
			return nil
		}})
		if err != nil {
			return fmt.Errorf("collect: build %s: %w", DatasetDir, err)
		}
		for _, sh := range m.Shards {
			sum.DatasetBytes += sh.Bytes
		}
		sum.Rows, sum.Tokens = m.Rows, m.Tokens
		sum.CEOnlyRows = sum.Rows - sum.TeacherRows
	}
	if err := atomicfile.ReplaceDir(tmp, filepath.Join(out, DatasetDir)); err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	if sum.Tokens > 0 {
		sum.BytesPerToken = float64(sum.DatasetBytes) / float64(sum.Tokens)
	}
	return nil
}
