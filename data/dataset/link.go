package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// LinkOptions controls LinkShards.
type LinkOptions struct {
	// Check, if set, is called with each input directory and its manifest
	// before its shards are linked; an error stops LinkShards.
	Check func(dir string, m *Manifest) error
}

// LinkShards makes the empty directory out one dataset of all shards of
// inputs, in input order, without re-encoding anything: every shard is
// hard-linked (copied where the file system cannot link) as
// "<input base name>-<shard file>", and one manifest lists them all. The
// inputs must agree on every metadata field (Meta.Equal), as the outputs
// of one writer do, and have distinct base names. Rows are not
// deduplicated (Merge does that, re-encoding).
func LinkShards(out string, inputs []string, opts LinkOptions) (*Manifest, error) {
	if len(inputs) == 0 {
		return nil, errors.New("link shards: no input datasets")
	}
	var m Manifest
	seen := map[string]string{}
	for i, in := range inputs {
		base := filepath.Base(in)
		if prev, dup := seen[base]; dup {
			return nil, fmt.Errorf("link shards: inputs %s and %s have the same base name", prev, in)
		}
		seen[base] = in
		im, err := ReadManifest(in)
		if err != nil {
			return nil, fmt.Errorf("link shards: %w", err)
		}
		if i == 0 {
			m.Meta = im.Meta
		} else if err := m.Meta.Equal(&im.Meta); err != nil {
			return nil, fmt.Errorf("link shards: %s was written with other settings than %s: %w", in, inputs[0], err)
		}
		if opts.Check != nil {
			if err := opts.Check(in, im); err != nil {
				return nil, fmt.Errorf("link shards: %s: %w", in, err)
			}
		}
		for _, sh := range im.Shards {
			name := base + "-" + sh.File
			if err := linkOrCopy(filepath.Join(in, sh.File), filepath.Join(out, name)); err != nil {
				return nil, fmt.Errorf("link shards: %s: %w", in, err)
			}
			sh.File = name
			m.Shards = append(m.Shards, sh)
		}
		m.Rows += im.Rows
		m.Tokens += im.Tokens
	}
	if err := WriteManifest(out, &m); err != nil {
		return nil, fmt.Errorf("link shards: %w", err)
	}
	return &m, nil
}

// linkOrCopy hard-links src to dst, or copies it (fsynced) where the file
// system cannot link.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return atomicfile.Copy(src, dst, 0o644)
}
