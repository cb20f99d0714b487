package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/distill-ml/distill/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
)

// File names inside an output directory.
const (
	TrainFile             = "train.jsonl"
	ValidationFile        = "validation.jsonl"
	GoldenFile            = "golden.jsonl"
	TrainManualsFile      = "manuals_train.txt"
	ValidationManualsFile = "manuals_validation.txt"
	GoldenManualsFile     = "manuals_golden.txt"
	TokenizerCorpusFile   = "tokenizer_corpus.txt"
	ManifestFile          = "manifest.json"
	// ManifestFormat identifies a synth corpus manifest.
	ManifestFormat = "distill-synth-corpus"
)

// FileEntry describes one written file.
type FileEntry struct {
	Name    string `json:"name"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
	Records int    `json:"records"` // JSONL lines or manuals; 0 for the tokenizer corpus
}

// Counts summarizes a corpus.
type Counts struct {
	TrainExamples      int `json:"train_examples"`
	ValidationExamples int `json:"validation_examples"`
	GoldenItems        int `json:"golden_items"`
	TrainManuals       int `json:"train_manuals"`
	ValidationManuals  int `json:"validation_manuals"`
	GoldenManuals      int `json:"golden_manuals"`
	TrainAbstain       int `json:"train_abstain"`
	GoldenAbstain      int `json:"golden_abstain"`
	MaxExampleChars    int `json:"max_example_chars"` // longest prompt+completion, bytes
}

// Manifest is manifest.json: what was generated, how, and the sha256 of every file.
type Manifest struct {
	Format           string      `json:"format"`
	Version          string      `json:"version"`
	GoldenVersion    string      `json:"golden_version"`
	Config           Config      `json:"config"`
	PromptTemplate   string      `json:"prompt_template"`
	CompletionPrefix string      `json:"completion_prefix"`
	StopSequence     string      `json:"stop_sequence"`
	AbstainAnswer    string      `json:"abstain_answer"`
	Counts           Counts      `json:"counts"`
	Files            []FileEntry `json:"files"`
}

// Counts returns the corpus's summary counts.
func (c *Corpus) Counts() Counts {
	n := Counts{
		TrainExamples: len(c.Train), ValidationExamples: len(c.Validation), GoldenItems: len(c.Golden),
		TrainManuals: c.TrainManualCount, ValidationManuals: c.ValidationManualCount, GoldenManuals: c.GoldenManualCount,
	}
	for _, set := range [][]Example{c.Train, c.Validation} {
		for _, ex := range set {
			n.MaxExampleChars = max(n.MaxExampleChars, len(ex.Prompt)+len(ex.Completion))
		}
	}
	for _, ex := range c.Train {
		if ex.Abstain {
			n.TrainAbstain++
		}
	}
	for _, g := range c.Golden {
		if g.Abstain {
			n.GoldenAbstain++
		}
		n.MaxExampleChars = max(n.MaxExampleChars, len(g.Prompt)+len(FormatCompletion(g.Expected)))
	}
	return n
}

// Write writes the corpus into dir (created if missing), each file
// atomically, manifest.json last, and returns the manifest.
func (c *Corpus) Write(dir string) (*Manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synth: create output directory: %w", err)
	}
	m := &Manifest{
		Format: ManifestFormat, Version: CorpusVersion, GoldenVersion: GoldenVersion, Config: c.Config,
		PromptTemplate: PromptTemplate, CompletionPrefix: CompletionPrefix, StopSequence: StopSequence,
		AbstainAnswer: AbstainAnswer, Counts: c.Counts(),
	}
	add := func(name string, data []byte, records int) error {
		if err := writeFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		m.Files = append(m.Files, FileEntry{Name: name, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Records: records})
		return nil
	}
	for _, f := range []struct {
		name string
		rows []Example
	}{{TrainFile, c.Train}, {ValidationFile, c.Validation}} {
		data, err := encodeJSONL(f.rows)
		if err != nil {
			return nil, fmt.Errorf("synth: encode %s: %w", f.name, err)
		}
		if err := add(f.name, data, len(f.rows)); err != nil {
			return nil, err
		}
	}
	data, err := encodeJSONL(c.Golden)
	if err != nil {
		return nil, fmt.Errorf("synth: encode %s: %w", GoldenFile, err)
	}
	if err := add(GoldenFile, data, len(c.Golden)); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name, text string
		n          int
	}{
		{TrainManualsFile, c.TrainManuals, c.TrainManualCount},
		{ValidationManualsFile, c.ValidationManuals, c.ValidationManualCount},
		{GoldenManualsFile, c.GoldenManuals, c.GoldenManualCount},
		{TokenizerCorpusFile, c.TokenizerCorpus(), 0},
	} {
		if err := add(f.name, []byte(f.text), f.n); err != nil {
			return nil, err
		}
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("synth: encode manifest: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ManifestFile), append(mb, '\n')); err != nil {
		return nil, err
	}
	return m, nil
}

func encodeJSONL[T any](rows []T) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range rows {
		if err := enc.Encode(&rows[i]); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
	}
	return buf.Bytes(), nil
}

// writeFileAtomic writes path through internal/atomicfile (temp file in the
// same directory, fsync, rename, directory fsync).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

// maxManifestBytes bounds manifest.json before it is parsed.
const maxManifestBytes = 1 << 20

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("synth manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("synth manifest %s: %w", path, err)
	}
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("synth manifest %s: larger than %d bytes", path, maxManifestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("synth manifest %s: %w", path, err)
	}
	if m.Format != ManifestFormat {
		return nil, fmt.Errorf("synth manifest %s: field format: %q, want %q", path, m.Format, ManifestFormat)
	}
	return &m, nil
}

// Verify reads dir's manifest and checks every listed file's size and
// sha256, returning all mismatches joined.
func Verify(dir string) (*Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, fe := range m.Files {
		if fe.Name != filepath.Base(fe.Name) || fe.Name == "." || fe.Name == ".." {
			errs = append(errs, fmt.Errorf("manifest file name %q is not a plain file name", fe.Name))
			continue
		}
		path := filepath.Join(dir, fe.Name)
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", path, err))
			continue
		}
		if n != fe.Bytes {
			errs = append(errs, fmt.Errorf("%s: %d bytes, manifest says %d", path, n, fe.Bytes))
		} else if got := hex.EncodeToString(h.Sum(nil)); got != fe.SHA256 {
			errs = append(errs, fmt.Errorf("%s: sha256 %s, manifest says %s", path, got, fe.SHA256))
		}
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("synth corpus %s: %w", dir, errors.Join(errs...))
	}
	return m, nil
}
