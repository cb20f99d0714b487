package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// ManifestName is the manifest file inside a dataset directory.
const ManifestName = "manifest.json"

// maxManifestBytes bounds the manifest read into memory.
const maxManifestBytes = 64 << 20

// Manifest lists a dataset's shards and metadata.
type Manifest struct {
	Format string      `json:"format"` // "distill-dataset"
	Meta   Meta        `json:"meta"`
	Rows   int64       `json:"rows"`
	Tokens int64       `json:"tokens"`
	Shards []ShardInfo `json:"shards"`
}

// ShardInfo describes one shard file.
type ShardInfo struct {
	File   string           `json:"file"`   // base name inside the dataset directory
	SHA256 string           `json:"sha256"` // hex digest of the whole file
	Bytes  int64            `json:"bytes"`
	Rows   int64            `json:"rows"`
	Tokens int64            `json:"tokens"`
	Splits map[string]int64 `json:"splits"` // rows per split
}

const manifestFormat = "distill-dataset"

var shardNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*\.parquet$`)

// WriteManifest writes dir/manifest.json atomically.
func WriteManifest(dir string, m *Manifest) error {
	m.Format = manifestFormat
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ManifestName), append(b, '\n')); err != nil {
		return fmt.Errorf("write manifest %s: %w", filepath.Join(dir, ManifestName), err)
	}
	return nil
}

// ReadManifest reads and checks dir/manifest.json (strictly: unknown keys are errors).
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if st.Size() > maxManifestBytes {
		return nil, fmt.Errorf("read manifest %s: %d bytes, larger than %d", path, st.Size(), maxManifestBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	var errs []error
	if m.Format != manifestFormat {
		errs = append(errs, fmt.Errorf("field format: %q, want %q", m.Format, manifestFormat))
	}
	if err := m.Meta.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("field meta: %w", err))
	}
	var rows, tokens int64
	seen := map[string]bool{}
	for i, s := range m.Shards {
		if !shardNameRE.MatchString(s.File) {
			errs = append(errs, fmt.Errorf("field shards[%d].file: %q is not a plain shard file name", i, s.File))
		}
		if seen[s.File] {
			errs = append(errs, fmt.Errorf("field shards[%d].file: %q listed twice", i, s.File))
		}
		seen[s.File] = true
		if len(s.SHA256) != 64 {
			errs = append(errs, fmt.Errorf("field shards[%d].sha256: %q is not a sha256 hex digest", i, s.SHA256))
		}
		if s.Rows < 0 || s.Tokens < 0 || s.Bytes < 0 {
			errs = append(errs, fmt.Errorf("shard %s: negative rows/tokens/bytes", s.File))
		}
		rows += s.Rows
		tokens += s.Tokens
	}
	if rows != m.Rows {
		errs = append(errs, fmt.Errorf("field rows: %d, shards sum to %d", m.Rows, rows))
	}
	if tokens != m.Tokens {
		errs = append(errs, fmt.Errorf("field tokens: %d, shards sum to %d", m.Tokens, tokens))
	}
	return errors.Join(errs...)
}
