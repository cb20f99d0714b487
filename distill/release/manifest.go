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
// Hashes alone do not stop a forger who rewrites the manifest too, so a
// release is signed: manifest.json.sig is an SSH signature (SSHSIG, namespace
// "distill-release", see package sshsig) of the exact bytes of manifest.json
// by an ed25519 key, checked with `ssh-keygen -Y verify` or VerifySigned.
// Since the manifest lists every file's sha256 (gate.json included), the
// signature covers the whole artifact. CheckGate cross-checks the manifest's
// gate section against the gate report it lists.
//
// A release store is a directory of immutable versions plus a CURRENT pointer
// and an append-only history; Promote copies a verified, gate-approved
// artifact in and points CURRENT at it, Rollback points CURRENT back at the
// previously promoted version. A store that trusts a key (Trust) takes only
// releases signed by it. Ids read from the store are validated and never
// lead outside it. Every write is atomic.
package release

import (
	"bytes"
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

// SignatureName is the signature of manifest.json beside it: an armored
// SSHSIG signature of the manifest's exact bytes (see Sign).
const SignatureName = ManifestName + ".sig"

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
	Artifact   string             `json:"artifact,omitempty"` // the artifact's name in the gate report
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
	if err := ValidateID(m.Name); err != nil {
		errs = append(errs, fmt.Errorf("name: %w", err))
	}
	if err := ValidateID(m.Version); err != nil {
		errs = append(errs, fmt.Errorf("version: %w", err))
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
		if err := validRelPath(f.Path); err != nil || f.Path == ManifestName || f.Path == SignatureName {
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
	if m.Gate.Report != "" && !seen[m.Gate.Report] {
		errs = append(errs, fmt.Errorf("gate.report %q is not among files", m.Gate.Report))
	}
	return errors.Join(errs...)
}

// maxIDLen bounds a name, version or store id.
const maxIDLen = 128

// ValidateID checks a name, version or release-store id: 1 to 128 letters,
// digits, '.', '_' and '-', starting with a letter or digit (so never "." or
// ".." and never a path).
func ValidateID(s string) error {
	if s == "" || len(s) > maxIDLen {
		return fmt.Errorf("%q must be 1 to %d characters", s, maxIDLen)
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '.' && r != '_' && r != '-') {
			return fmt.Errorf("%q must use only letters, digits, '.', '_' and '-' and start with a letter or digit", s)
		}
	}
	return nil
}

// validRelPath checks a manifest file path: slash-separated segments, each a
// valid id (no empty, ".", ".." or hidden segments, no absolute path).
func validRelPath(p string) error {
	for _, seg := range strings.Split(p, "/") {
		if err := ValidateID(seg); err != nil {
			return err
		}
	}
	return nil
}

// HashFiles lists every regular file under dir except the manifest and its
// signature, with size and sha256.
func HashFiles(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() || rel == ManifestName || rel == SignatureName {
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
	_, m, err := readManifest(path)
	return m, err
}

// readManifest returns a manifest file's exact bytes and the manifest they
// hold: what is checked is what is signed.
func readManifest(path string) ([]byte, *Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := parseManifest(b)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return b, m, nil
}

func parseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the manifest object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// manifestPath is path itself, or path/manifest.json when path is a directory.
func manifestPath(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, ManifestName)
	}
	return path
}

// Verify recomputes every file's size and sha256 against the manifest at
// path (a manifest.json, or a directory holding one) and reports every
// difference: changed, missing and unlisted files. It does not check the
// signature: a forger can rewrite the manifest's hashes; see VerifySigned.
func Verify(path string) (*Manifest, error) {
	path = manifestPath(path)
	_, m, err := readManifest(path)
	if err != nil {
		return nil, err
	}
	return m, checkFiles(filepath.Dir(path), m)
}

// checkFiles compares dir's files with the manifest's list.
func checkFiles(dir string, m *Manifest) error {
	actual, err := HashFiles(dir)
	if err != nil {
		return err
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
		return fmt.Errorf("verify %s: %d problem(s): %s", dir, len(problems), strings.Join(problems, "; "))
	}
	return nil
}

func sortedFileKeys(m map[string]File) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
