package checkpoint

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SumsFile lists the sha256 of every other file of a checkpoint, in
// sha256sum's format ("<hex>  <name>" lines), so `sha256sum -c SHA256SUMS`
// checks a checkpoint without distill. Checkpoints of format version 1
// (written before it existed) have none and are loaded unverified.
const SumsFile = "SHA256SUMS"

// maxSumsBytes bounds SHA256SUMS before it is read.
const maxSumsBytes = 64 << 10

// formatSums renders name → hex digest as SHA256SUMS, sorted by name.
func formatSums(sums map[string]string) []byte {
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(sums[n] + "  " + n + "\n")
	}
	return []byte(b.String())
}

// readSums parses dir's SHA256SUMS.
func readSums(dir string) (map[string]string, error) {
	path := filepath.Join(dir, SumsFile)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, maxSumsBytes))
	for line := 1; sc.Scan(); line++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || name == "" || strings.ContainsAny(name, `/\`) {
			return nil, fmt.Errorf("%s line %d: want \"<64 hex digits>  <file name>\"", path, line)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sums, nil
}

// verifySums checks the named files of dir against SHA256SUMS: each must be
// listed and have the recorded digest. A name that is neither on disk nor
// listed is skipped (optional files such as tokenizer.json).
func verifySums(dir string, names ...string) error {
	sums, err := readSums(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		path := filepath.Join(dir, name)
		want, listed := sums[name]
		f, err := os.Open(path)
		if os.IsNotExist(err) && !listed {
			continue
		}
		if err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("checkpoint: read %s: %w", path, err)
		}
		if !listed {
			return fmt.Errorf("%s: not listed in %s", path, SumsFile)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("%s: sha256 %s, but %s records %s: the file changed after the checkpoint was written (disk or copy corruption)", path, got, SumsFile, want)
		}
	}
	return nil
}
