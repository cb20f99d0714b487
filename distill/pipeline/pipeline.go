// Package pipeline runs distill's stages (synth or collect → train → export →
// quantize → gate) as a resumable sequence. Each stage declares its inputs
// (files or directories), its parameters and its outputs; the runner keys a
// stage by the sha256 of its inputs' contents and its parameters, records the
// key and the outputs' hashes in a state file after the stage succeeds, and on
// a rerun skips every stage whose key and outputs are unchanged.
//
// A stage that reruns because it changed (or under Force) replaces its
// outputs as a whole: the runner moves the previous ones aside
// (<output>.pipeline-old) before the command runs, deletes them when it
// succeeds, and on failure removes what the command left and puts the
// previous outputs and their record back, so a command that refuses to
// overwrite (data import) always starts clean and a failed change leaves the
// previous run intact. A stage with nothing to replace keeps the partial work
// of a failed or killed attempt; the state file remembers the attempt's key
// and a rerun of the same attempt runs in place, so commands that resume
// their own work (collect's journal) do so.
package pipeline

import (
	"context"
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

// Stage is one step of a pipeline.
type Stage struct {
	Name    string
	Inputs  []string // files or directories whose contents key the stage
	Params  any      // JSON-encodable parameters that also key the stage
	Outputs []string // files or directories the stage must produce
	Run     func(ctx context.Context) error
}

// Record is what the state file keeps per completed stage.
type Record struct {
	Key      string            `json:"key"`
	Outputs  map[string]string `json:"outputs"` // path → content hash
	Finished time.Time         `json:"finished"`
	Seconds  float64           `json:"seconds"`
}

// State is the state file's content.
type State struct {
	Version int                `json:"version"`
	Stages  map[string]*Record `json:"stages"`
	// Attempts holds, per stage, the key of a run that started and has not
	// succeeded; a rerun with the same key works in place.
	Attempts map[string]string `json:"attempts,omitempty"`
}

// Runner executes stages in order.
type Runner struct {
	StateFile string    // where completed-stage records are kept
	Log       io.Writer // one line per stage event
	Force     bool      // run every stage even when current
}

// Result says what happened to one stage.
type Result struct {
	Name    string
	Skipped bool
	Seconds float64
}

// Run executes the stages in order, skipping current ones, and returns one
// Result per stage that was reached.
func (r *Runner) Run(ctx context.Context, stages []Stage) ([]Result, error) {
	st, err := loadState(r.StateFile)
	if err != nil {
		return nil, err
	}
	log := r.Log
	if log == nil {
		log = io.Discard
	}
	seen := map[string]bool{}
	var results []Result
	for i, s := range stages {
		if s.Name == "" || seen[s.Name] {
			return results, fmt.Errorf("pipeline: stage %d has an empty or duplicate name %q", i, s.Name)
		}
		seen[s.Name] = true
		if err := ctx.Err(); err != nil {
			return results, err
		}
		key, err := stageKey(s)
		if err != nil {
			return results, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		tag := fmt.Sprintf("[%d/%d] %s", i+1, len(stages), s.Name)
		if rec := st.Stages[s.Name]; !r.Force && rec != nil && rec.Key == key && outputsCurrent(rec) {
			fmt.Fprintf(log, "%s: current, skipped\n", tag)
			results = append(results, Result{Name: s.Name, Skipped: true})
			continue
		}
		res, err := r.runStage(ctx, st, s, key, tag, log)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

// runStage runs one stage that is not current and records it.
func (r *Runner) runStage(ctx context.Context, st *State, s Stage, key, tag string, log io.Writer) (Result, error) {
	for _, o := range s.Outputs {
		if within(r.StateFile, o) {
			return Result{}, fmt.Errorf("stage %s: output %s holds the pipeline state %s; declare the files the stage writes instead", s.Name, o, r.StateFile)
		}
	}
	// The same attempt again (a failed or killed run with this key) works in
	// place; anything else replaces the previous outputs.
	var moved []string
	if r.Force || st.Attempts[s.Name] != key {
		var err error
		if moved, err = moveAside(s.Outputs); err != nil {
			return Result{}, fmt.Errorf("stage %s: %w", s.Name, err)
		}
	}
	prev := st.Stages[s.Name]
	// A stage that reruns invalidates its record until it succeeds again.
	delete(st.Stages, s.Name)
	st.Attempts[s.Name] = key
	if err := saveState(r.StateFile, st); err != nil {
		return Result{}, err
	}
	if len(moved) > 0 {
		fmt.Fprintf(log, "%s: running (replacing %s)\n", tag, strings.Join(moved, ", "))
	} else {
		fmt.Fprintf(log, "%s: running\n", tag)
	}
	start := time.Now()
	if err := s.Run(ctx); err != nil {
		err = fmt.Errorf("stage %s: %w", s.Name, err)
		if len(moved) == 0 {
			return Result{}, err // partial work stays for the same attempt to resume
		}
		if rerr := restore(s.Outputs, moved); rerr != nil {
			return Result{}, fmt.Errorf("%w; restoring the previous outputs failed: %v", err, rerr)
		}
		delete(st.Attempts, s.Name)
		if prev != nil {
			st.Stages[s.Name] = prev
		}
		if serr := saveState(r.StateFile, st); serr != nil {
			return Result{}, fmt.Errorf("%w; previous outputs restored but the state was not saved: %v", err, serr)
		}
		return Result{}, fmt.Errorf("%w (previous outputs restored: %s)", err, strings.Join(moved, ", "))
	}
	secs := time.Since(start).Seconds()
	outs := map[string]string{}
	for _, o := range s.Outputs {
		h, err := HashPath(o)
		if err != nil {
			return Result{}, fmt.Errorf("stage %s: declared output missing: %w", s.Name, err)
		}
		outs[o] = h
	}
	st.Stages[s.Name] = &Record{Key: key, Outputs: outs, Finished: time.Now().UTC(), Seconds: secs}
	delete(st.Attempts, s.Name)
	if err := saveState(r.StateFile, st); err != nil {
		return Result{}, err
	}
	for _, o := range s.Outputs {
		if err := os.RemoveAll(o + backupSuffix); err != nil {
			return Result{}, fmt.Errorf("stage %s: remove the replaced outputs: %w", s.Name, err)
		}
	}
	fmt.Fprintf(log, "%s: done in %.1fs\n", tag, secs)
	return Result{Name: s.Name, Seconds: secs}, nil
}

// moveAside renames every existing output to output+backupSuffix (removing a
// leftover of a killed run first) and returns the outputs it moved.
func moveAside(outputs []string) ([]string, error) {
	var moved []string
	for _, o := range outputs {
		if _, err := os.Lstat(o); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return moved, err
		}
		old := o + backupSuffix
		if err := os.RemoveAll(old); err != nil {
			return moved, fmt.Errorf("remove leftover %s: %w", old, err)
		}
		if err := os.Rename(o, old); err != nil {
			if rerr := restore(moved, moved); rerr != nil {
				return nil, fmt.Errorf("move %s aside: %w (and restoring the others failed: %v)", o, err, rerr)
			}
			return nil, fmt.Errorf("move %s aside: %w", o, err)
		}
		moved = append(moved, o)
	}
	if len(moved) > 0 {
		if err := atomicfile.SyncDir(filepath.Dir(moved[0])); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// restore removes whatever a failed run left at the outputs and puts the
// moved ones back; outputs that did not exist before are removed.
func restore(outputs, moved []string) error {
	var errs []error
	for _, o := range outputs {
		if err := os.RemoveAll(o); err != nil {
			errs = append(errs, err)
		}
	}
	for _, o := range moved {
		if err := os.Rename(o+backupSuffix, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// within reports whether path is dir or lies under it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	return err == nil && (rel == "." || (rel != ".." && !strings.HasPrefix(rel, "../")))
}

func stageKey(s Stage) (string, error) {
	h := sha256.New()
	p, err := json.Marshal(s.Params)
	if err != nil {
		return "", fmt.Errorf("params: %w", err)
	}
	fmt.Fprintf(h, "params %d %s\n", len(p), p)
	for _, in := range s.Inputs {
		ih, err := HashPath(in)
		if err != nil {
			return "", fmt.Errorf("input: %w", err)
		}
		fmt.Fprintf(h, "input %s %s\n", in, ih)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func outputsCurrent(rec *Record) bool {
	for path, want := range rec.Outputs {
		got, err := HashPath(path)
		if err != nil || got != want {
			return false
		}
	}
	return true
}

// HashPath returns "sha256:<hex>" of a file's contents, or of a directory's
// sorted relative paths and file contents.
func HashPath(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if !st.IsDir() {
		if err := hashFile(h, path); err != nil {
			return "", err
		}
		return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		rel, _ := filepath.Rel(path, f)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err != nil {
		return fmt.Errorf("hash %s: %w", path, err)
	}
	fmt.Fprintf(w, "\x00%d\x00", n)
	return nil
}

func loadState(path string) (*State, error) {
	st := &State{Version: 1, Stages: map[string]*Record{}, Attempts: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pipeline state: %w", err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("pipeline state %s: %w (delete it to rerun every stage)", path, err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("pipeline state %s: version %d, want 1", path, st.Version)
	}
	if st.Stages == nil {
		st.Stages = map[string]*Record{}
	}
	if st.Attempts == nil {
		st.Attempts = map[string]string{}
	}
	return st, nil
}

func saveState(path string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// backupSuffix names where a rerunning stage's previous outputs wait until it succeeds.
const backupSuffix = ".pipeline-old"
