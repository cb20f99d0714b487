package checkpoint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flipBit flips bit 2 of the byte at offset off of the first occurrence
// of marker in a file (the end of the file when marker is "").
func flipBit(t *testing.T, path, marker string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b) + off
	if marker != "" {
		i := strings.Index(string(b), marker)
		if i < 0 {
			t.Fatalf("%s lacks %q", path, marker)
		}
		at = i + off
	}
	b[at] ^= 0x04
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBitFlipsAreDetected: one flipped mantissa bit leaves every file
// parseable and every value finite, so only a checksum notices it. Before,
// Load, LoadWeights (what export reads) and resume accepted such files.
func TestBitFlipsAreDetected(t *testing.T) {
	for _, file := range []string{ModelFile, OptimizerFile, TokenizerFile, StateFile} {
		root := t.TempDir()
		tok := filepath.Join(t.TempDir(), "tok.json")
		os.WriteFile(tok, []byte(`{"model":"x"}`), 0o644)
		c := fakeCheckpoint(t, 5, 7)
		c.TokenizerPath = tok
		dir, err := Save(root, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err != nil {
			t.Fatalf("clean checkpoint: %v", err)
		}
		if _, _, _, err := LoadWeights(dir); err != nil {
			t.Fatalf("clean checkpoint: %v", err)
		}
		// Safetensors: the second byte from the end is inside the last
		// float32 (a mantissa bit of a finite value stays finite). JSON
		// files: a character that stays valid ("x" → "|", "0" → "4").
		switch file {
		case TokenizerFile:
			flipBit(t, filepath.Join(dir, file), `"x"`, 1)
		case StateFile:
			flipBit(t, filepath.Join(dir, file), `"tokens_seen": 500`, len(`"tokens_seen": 50`))
		default:
			flipBit(t, filepath.Join(dir, file), "", -2)
		}
		_, err = Load(dir)
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("%s: Load after a bit flip: %v", file, err)
		}
		_, _, _, err = LoadWeights(dir)
		readByExport := file == ModelFile || file == TokenizerFile
		if readByExport && (err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "sha256")) {
			t.Errorf("%s: LoadWeights after a bit flip: %v", file, err)
		}
		if !readByExport && err != nil {
			t.Errorf("%s: LoadWeights does not read this file but failed: %v", file, err)
		}
	}
}

// TestChecksumsFileIsSha256sumFormat: the sums file is checkable with
// `sha256sum -c` (lines "<hex>  <name>") and lists every file.
func TestChecksumsFileIsSha256sumFormat(t *testing.T) {
	root := t.TempDir()
	tok := filepath.Join(t.TempDir(), "tok.json")
	os.WriteFile(tok, []byte(`{"model":"x"}`), 0o644)
	c := fakeCheckpoint(t, 3, 1)
	c.TokenizerPath = tok
	dir, err := Save(root, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var names []string
	for _, l := range lines {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("line %q is not sha256sum format", l)
		}
		names = append(names, name)
	}
	want := []string{ConfigFile, ModelFile, OptimizerFile, StateFile, TokenizerFile}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("sums list %v, want %v", names, want)
	}
}

// TestMissingSumsFile: a version-2 checkpoint without SHA256SUMS is refused;
// a version-1 checkpoint (written before sums existed) still loads.
func TestMissingSumsFile(t *testing.T) {
	dir, err := Save(t.TempDir(), fakeCheckpoint(t, 2, 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, SumsFile))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), SumsFile) {
		t.Fatalf("version 2 without %s: %v", SumsFile, err)
	}
	cfg := filepath.Join(dir, ConfigFile)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), `"version": 2`, `"version": 1`, 1)), 0o644)
	if _, err := Load(dir); err != nil {
		t.Fatalf("version 1 checkpoint: %v", err)
	}
	if _, _, _, err := LoadWeights(dir); err != nil {
		t.Fatalf("version 1 checkpoint: %v", err)
	}
}
