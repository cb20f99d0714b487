// Package release describes, verifies and ships approved artifacts.
//
// A manifest.json sits beside each approved artifact. It lists the sha256 and
// size of every file in the artifact directory, what the model is
// (architecture, parameter count, quantization type, tokenizer hash), what it
// was verified with (distill version, llama.cpp build), where it came from
// (training-config hash, dataset manifest hash, teachers, policy hash) and the
// gate's results and thresholds. Verify recomputes every hash and rejects a
// tampered, truncated, missing or added file.
//
// A release store is a directory of immutable versions plus a CURRENT pointer
// and an append-only history; Promote copies a verified, gate-approved
// artifact in and points CURRENT at it, Rollback points CURRENT back at the
// previously promoted version. Every write is atomic.
package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/distill-ml/distill/internal/atomicfile"
)

// ManifestName is the manifest's file name inside an artifact directory.
const ManifestName = "manifest.json"

// SchemaVersion of manifest.json.
const SchemaVersion = 1

// File is one file of an artifact.
type File struct {
	Path   string `json:"path"` // slash-separated, relative to the artifact directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// Model says what the artifact is.
type Model struct {
	File          string `json:"file"` // the GGUF file
	Architecture  string `json:"architecture"`
	Parameters    int64  `json:"parameters"`
	QuantType     string `json:"quant_type"`
	TokenizerHash string `json:"tokenizer_hash"`
	ContextLength int    `json:"context_length"`
}

// Runtime says what the artifact was verified with: the minimum runtime.
type Runtime struct {
	DistillVersion string `json:"distill_version"`
	LlamaCppBuild  string `json:"llama_cpp_build,omitempty"`
}

// Provenance ties the artifact to its inputs.
type Provenance struct {
	TrainingConfigHash  string   `json:"training_config_hash"`
	DatasetManifestHash string   `json:"dataset_manifest_hash"`
	Teachers            []string `json:"teachers"`
	PolicyHash          string   `json:"policy_hash"`
}

// Gate is the gate's verdict on this artifact, with what it measured.
type Gate struct {
	Approved   bool               `json:"approved"`
	Thresholds map[string]float64 `json:"thresholds"`
	Measured   map[string]float64 `json:"measured"`
	Report     string             `json:"report,omitempty"` // path of gate.json, if kept beside
}

// Manifest is manifest.json.
type Manifest struct {
	SchemaVersion int        `json:"schema_version"`
	Name          string     `json:"name"`
	Version       string     `json:"version"`
	Created       time.Time  `json:"created"`
	Model         Model      `json:"model"`
	Runtime       Runtime    `json:"runtime"`
	Provenance    Provenance `json:"provenance"`
	Gate          Gate       `json:"gate"`
	Files         []File     `json:"files"`
}

// ID is name-version, the directory name in a release store.
func (m *Manifest) ID() string { return m.Name + "-" + m.Version }

// Validate checks the fields a manifest must have.
func (m *Manifest) Validate() error {
	var errs []error
	if m.SchemaVersion != SchemaVersion {
		errs = append(errs, fmt.Errorf("schema_version %d, want %d", m.SchemaVersion, SchemaVersion))
	}
	if !validID(m.Name) || !validID(m.Version) {
		errs = append(errs, fmt.Errorf("name %q and version %q must be non-empty and use only letters, digits, '.', '_' and '-'", m.Name, m.Version))
	}
	if m.Model.File == "" {
		errs = append(errs, errors.New("model.file is empty"))
	}
	if len(m.Files) == 0 {
		errs = append(errs, errors.New("files: empty"))
	}
	seen := map[string]bool{}
	hasModel := false
	for i, f := range m.Files {
		if f.Path == "" || strings.HasPrefix(f.Path, "/") || strings.Contains(f.Path, "..") || f.Path == ManifestName {
			errs = append(errs, fmt.Errorf("files[%d]: bad path %q", i, f.Path))
		}
		if seen[f.Path] {
			errs = append(errs, fmt.Errorf("files[%d]: duplicate path %q", i, f.Path))
		}
		seen[f.Path] = true
		if len(f.SHA256) != 64 {
			errs = append(errs, fmt.Errorf("files[%d] %s: sha256 %q is not 64 hex digits", i, f.Path, f.SHA256))
		}
		if f.Path == m.Model.File {
			hasModel = true
		}
	}
	if m.Model.File != "" && !hasModel {
		errs = append(errs, fmt.Errorf("model.file %q is not among files", m.Model.File))
	}
	return errors.Join(errs...)
}

func validID(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// HashFiles lists every regular file under dir except the manifest, with size and sha256.
func HashFiles(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == ManifestName {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		size, sum, err := hashFile(p)
		if err != nil {
			return err
		}
		files = append(files, File{Path: rel, Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash artifact %s: %w", dir, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

func hashFile(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Write fills m.Files from dir's contents, validates m and writes dir/manifest.json atomically.
func Write(dir string, m *Manifest) error {
	files, err := HashFiles(dir)
	if err != nil {
		return err
	}
	m.SchemaVersion = SchemaVersion
	m.Files = files
	if m.Created.IsZero() {
		m.Created = time.Now().UTC().Truncate(time.Second)
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("manifest for %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644)
}

// Read parses and validates a manifest file.
func Read(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &m, nil
}

// Verify recomputes every file's size and sha256 against the manifest at
// path (a manifest.json, or a directory holding one) and reports every
// difference: changed, missing and unlisted files.
func Verify(path string) (*Manifest, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ManifestName)
	}
	m, err := Read(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	actual, err := HashFiles(dir)
	if err != nil {
		return m, err
	}
	have := map[string]File{}
	for _, f := range actual {
		have[f.Path] = f
	}
	var problems []string
	for _, want := range m.Files {
		got, ok := have[want.Path]
		switch {
		case !ok:
			problems = append(problems, want.Path+": missing")
		case got.Size != want.Size:
			problems = append(problems, fmt.Sprintf("%s: size %d, manifest says %d", want.Path, got.Size, want.Size))
		case got.SHA256 != want.SHA256:
			problems = append(problems, fmt.Sprintf("%s: sha256 %s, manifest says %s", want.Path, got.SHA256, want.SHA256))
		}
		delete(have, want.Path)
	}
	for _, extra := range sortedFileKeys(have) {
		problems = append(problems, extra+": not in the manifest")
	}
	if len(problems) > 0 {
		return m, fmt.Errorf("verify %s: %d problem(s): %s", dir, len(problems), strings.Join(problems, "; "))
	}
	return m, nil
}

func sortedFileKeys(m map[string]File) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
