// Package checkpoint stores and restores a training run's state in a
// directory that other tools can read without distill:
//
//	<root>/step-00000100/
//	    model.safetensors      student weights, F32, tensor names = llama.cpp GGUF names
//	    optimizer.safetensors  AdamW moments: "<param>.exp_avg", "<param>.exp_avg_sq"
//	    config.json            student.Config + loss/training config + tokenizer hash
//	    tokenizer.json         copy of the student's tokenizer
//	    tokenizer_config.json  its chat template and BOS/EOS/PAD (when the tokenizer has one)
//	    generation_config.json the generation settings beside the tokenizer (when present)
//	    state.json             step, optimizer step, tokens seen, data-loader state, RNG state, LR
//	    SHA256SUMS             sha256 of every file above (`sha256sum -c SHA256SUMS` checks them)
//
// A checkpoint is written into a hidden temporary directory beside its final
// place, every file fsynced, then the directory is renamed into place and the
// parent fsynced, so a reader never sees a partial checkpoint. Save refuses
// non-finite weights or moments (a poisoned checkpoint is never written) and
// keeps only the newest N step directories. Load validates every file and
// names the broken file and tensor, then checks the files against
// SHA256SUMS, which catches corruption that still parses (a flipped bit in a
// weight); LoadWeights does the same for the files export reads.
//
// Pretrained models come in through hf.go (Hugging Face directories, read and
// written: ReadHF, HFConfigJSON, WriteHFWeights), gguf.go (ReadGGUF, any
// tensor type dequantized to F32) and pretrained.go (OpenPretrained for all
// three sources, SaveImported for `distill model import`: a step-0
// checkpoint without optimizer state, which Load accepts).
package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distill-ml/distill/data/tokenizer"
	"github.com/distill-ml/distill/internal/atomicfile"
	"github.com/distill-ml/distill/model/student"
)

// File names inside a checkpoint directory.
const (
	ModelFile     = "model.safetensors"
	OptimizerFile = "optimizer.safetensors"
	ConfigFile    = "config.json"
	TokenizerFile = "tokenizer.json"
	// TokenizerConfigFile (chat template, BOS/EOS/PAD) and
	// GenerationConfigFile are copied from beside the tokenizer when it has
	// them, so the checkpoint's tokenizer, and the GGUF exported from it,
	// keep the chat template and the generation settings.
	TokenizerConfigFile  = "tokenizer_config.json"
	GenerationConfigFile = "generation_config.json"
	StateFile            = "state.json"

	// FormatName and FormatVersion identify config.json. Version 2 added
	// SumsFile; version 1 checkpoints are still read (without it).
	FormatName    = "distill-checkpoint"
	FormatVersion = 2

	dirPrefix = "step-"
)

// Meta is config.json: what the weights are and how they were trained.
type Meta struct {
	Format        string          `json:"format"`
	Version       int             `json:"version"`
	Student       student.Config  `json:"student"`
	TokenizerHash string          `json:"tokenizer_hash"`
	Loss          json.RawMessage `json:"loss,omitempty"`     // loss.Config as JSON
	Training      json.RawMessage `json:"training,omitempty"` // the run's training config as JSON
}

// State is state.json: where the run stands.
type State struct {
	Step          int64           `json:"step"`           // completed optimizer updates
	OptimizerStep int64           `json:"optimizer_step"` // AdamW t (bias correction)
	TokensSeen    int64           `json:"tokens_seen"`    // loss tokens trained on
	SkippedSteps  int64           `json:"skipped_steps"`  // updates skipped by the NaN policy
	LR            float64         `json:"lr"`             // learning rate of the last update
	Loader        json.RawMessage `json:"loader"`         // data loader State
	RNG           []byte          `json:"rng"`            // trainer RNG (math/rand/v2 PCG binary state)
}

// Checkpoint is everything in one checkpoint directory.
type Checkpoint struct {
	Meta      Meta
	State     State
	Weights   []Tensor // student parameters, in the model's order
	Optimizer []Tensor // moments, named MomentName(param, "exp_avg"|"exp_avg_sq")
	// TokenizerPath is the tokenizer.json to copy in on Save, and the copy's
	// path inside the checkpoint after Load.
	TokenizerPath string
	Dir           string // set by Save and Load
}

// MomentName is the optimizer tensor name for a parameter's moment.
func MomentName(param, moment string) string { return param + "." + moment }

// DirName is the directory name of the checkpoint at step.
func DirName(step int64) string { return fmt.Sprintf("%s%08d", dirPrefix, step) }

// Save writes c atomically as root/step-NNNNNNNN and then deletes all but the
// newest keep step directories (keep <= 0 keeps all). It returns the new
// directory. An existing checkpoint of the same step is replaced.
func Save(root string, c *Checkpoint, keep int) (string, error) {
	if err := c.check(); err != nil {
		return "", fmt.Errorf("save checkpoint step %d: %w", c.State.Step, err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("save checkpoint: %w", err)
	}
	final := filepath.Join(root, DirName(c.State.Step))
	// Leftovers of saves killed half-way (best effort; see atomicfile.RemoveStale).
	atomicfile.RemoveStale(root, isSaveTemp, time.Now())
	tmp, err := os.MkdirTemp(root, saveTempPrefix+DirName(c.State.Step)+"-")
	if err != nil {
		return "", fmt.Errorf("save checkpoint: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if d, err := os.Open(tmp); err == nil {
		atomicfile.Hold(d) // a concurrent Save's RemoveStale leaves it alone
		defer d.Close()
	}
	meta := c.Meta
	meta.Format, meta.Version = FormatName, FormatVersion
	sums := map[string]string{}
	write := func(name string, fill func(io.Writer) error) error {
		f, err := os.OpenFile(filepath.Join(tmp, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		h := sha256.New()
		err = fill(io.MultiWriter(f, h))
		sums[name] = hex.EncodeToString(h.Sum(nil))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return nil
	}
	jsonFill := func(v any) func(io.Writer) error {
		return func(w io.Writer) error {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return err
			}
			_, err = w.Write(append(b, '\n'))
			return err
		}
	}
	steps := []struct {
		name string
		fill func(io.Writer) error
	}{
		{ModelFile, func(w io.Writer) error {
			return WriteSafetensors(w, c.Weights, map[string]string{"format": "pt", "producer": "distill", "step": strconv.FormatInt(c.State.Step, 10)})
		}},
		{OptimizerFile, func(w io.Writer) error {
			return WriteSafetensors(w, c.Optimizer, map[string]string{"optimizer": "adamw", "step": strconv.FormatInt(c.State.OptimizerStep, 10)})
		}},
		{ConfigFile, jsonFill(meta)},
		{StateFile, jsonFill(c.State)},
	}
	for _, cp := range tokenizerCopies(c.TokenizerPath) {
		steps = append(steps, struct {
			name string
			fill func(io.Writer) error
		}{cp.name, func(w io.Writer) error {
			src, err := os.Open(cp.src)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(w, src)
			return err
		}})
	}
	for _, s := range steps {
		if err := write(s.name, s.fill); err != nil {
			return "", fmt.Errorf("save checkpoint %s: %w", final, err)
		}
	}
	if err := write(SumsFile, func(w io.Writer) error {
		_, err := w.Write(formatSums(sums))
		return err
	}); err != nil {
		return "", fmt.Errorf("save checkpoint %s: %w", final, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return "", fmt.Errorf("save checkpoint: %w", err)
	}
	if err := atomicfile.ReplaceDir(tmp, final); err != nil {
		return "", fmt.Errorf("save checkpoint: %w", err)
	}
	ok = true
	if keep > 0 {
		if err := prune(root, keep); err != nil {
			return final, err
		}
	}
	c.Dir = final
	return final, nil
}

// check refuses a checkpoint that must not be written.
func (c *Checkpoint) check() error {
	if err := c.Meta.Student.Validate(); err != nil {
		return err
	}
	if len(c.Weights) == 0 {
		return errors.New("no weights")
	}
	if c.State.Step < 0 {
		return fmt.Errorf("negative step %d", c.State.Step)
	}
	for _, group := range [][]Tensor{c.Weights, c.Optimizer} {
		for _, t := range group {
			if i := FirstNonFinite(t.Data); i >= 0 {
				return fmt.Errorf("tensor %s holds %v at index %d: refusing to write a poisoned checkpoint", t.Name, t.Data[i], i)
			}
		}
	}
	return nil
}

// List returns the checkpoint directories under root, oldest step first.
func List(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	type sd struct {
		step int64
		dir  string
	}
	var found []sd
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), dirPrefix) {
			continue
		}
		step, err := strconv.ParseInt(strings.TrimPrefix(e.Name(), dirPrefix), 10, 64)
		if err != nil || step < 0 {
			continue
		}
		found = append(found, sd{step, filepath.Join(root, e.Name())})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].step < found[j].step })
	dirs := make([]string, len(found))
	for i, f := range found {
		dirs[i] = f.dir
	}
	return dirs, nil
}

// Latest returns the newest checkpoint directory under root.
func Latest(root string) (string, error) {
	dirs, err := List(root)
	if err != nil {
		return "", err
	}
	if len(dirs) == 0 {
		return "", fmt.Errorf("no checkpoints (step-*) in %s", root)
	}
	return dirs[len(dirs)-1], nil
}

// Resolve accepts a checkpoint directory (it holds model.safetensors), a
// root holding step-* directories, or a training run directory whose
// checkpoints/ holds them; for the last two the newest checkpoint is used.
func Resolve(path string) (string, error) {
	if _, err := os.Stat(filepath.Join(path, ModelFile)); err == nil {
		return path, nil
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if st, err := os.Stat(filepath.Join(path, "checkpoints")); err == nil && st.IsDir() {
		return Latest(filepath.Join(path, "checkpoints"))
	}
	return Latest(path)
}

func prune(root string, keep int) error {
	dirs, err := List(root)
	if err != nil {
		return err
	}
	for len(dirs) > keep {
		if err := os.RemoveAll(dirs[0]); err != nil {
			return fmt.Errorf("prune checkpoint %s: %w", dirs[0], err)
		}
		dirs = dirs[1:]
	}
	if err := atomicfile.SyncDir(root); err != nil {
		return fmt.Errorf("prune checkpoints: %w", err)
	}
	return nil
}

// saveTempPrefix starts the name of the directory Save writes into before
// the rename: ".tmp-step-NNNNNNNN-<digits>".
const saveTempPrefix = ".tmp-"

// isSaveTemp matches the temporary directory names of Save.
func isSaveTemp(name string) bool {
	rest, ok := strings.CutPrefix(name, saveTempPrefix+dirPrefix)
	if !ok {
		return false
	}
	step, random, ok := strings.Cut(rest, "-")
	return ok && atomicfile.AllDigits(step) && atomicfile.AllDigits(random)
}

// Load reads and validates the checkpoint in dir (or the newest under dir).
// Weights are checked against the shapes the student config implies; every
// tensor must be finite; every moment must match its parameter.
func Load(path string) (*Checkpoint, error) {
	dir, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Dir: dir}
	if err := readJSON(filepath.Join(dir, ConfigFile), &c.Meta); err != nil {
		return nil, err
	}
	if c.Meta.Format != FormatName || c.Meta.Version < 1 || c.Meta.Version > FormatVersion {
		return nil, fmt.Errorf("%s: format %q version %d, want %q version 1..%d", filepath.Join(dir, ConfigFile), c.Meta.Format, c.Meta.Version, FormatName, FormatVersion)
	}
	if err := c.Meta.Student.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if err := readJSON(filepath.Join(dir, StateFile), &c.State); err != nil {
		return nil, err
	}
	if c.State.Step < 0 || c.State.OptimizerStep < 0 || c.State.TokensSeen < 0 {
		return nil, fmt.Errorf("%s: negative step or token count", filepath.Join(dir, StateFile))
	}
	mpath := filepath.Join(dir, ModelFile)
	if c.Weights, _, err = ReadSafetensorsFile(mpath); err != nil {
		return nil, err
	}
	if err := checkWeights(mpath, c.Meta.Student, c.Weights); err != nil {
		return nil, err
	}
	opath := filepath.Join(dir, OptimizerFile)
	if c.Optimizer, _, err = ReadSafetensorsFile(opath); err != nil {
		return nil, err
	}
	if err := checkMoments(opath, c.Weights, c.Optimizer, c.State.OptimizerStep); err != nil {
		return nil, err
	}
	if c.Meta.Version >= 2 {
		if err := verifySums(dir, ConfigFile, StateFile, ModelFile, OptimizerFile, TokenizerFile, TokenizerConfigFile, GenerationConfigFile); err != nil {
			return nil, err
		}
	}
	tok := filepath.Join(dir, TokenizerFile)
	if _, err := os.Stat(tok); err == nil {
		c.TokenizerPath = tok
	}
	return c, nil
}

// LoadWeights is the exporter's reader: the student config, the weights by
// llama.cpp tensor name (extra trainer-only tensors, e.g. hidden-state
// projections, included), and the path of the tokenizer.json copy ("" when
// the checkpoint has none). It reads only config.json and model.safetensors.
func LoadWeights(path string) (student.Config, map[string][]float32, string, error) {
	dir, err := Resolve(path)
	if err != nil {
		return student.Config{}, nil, "", err
	}
	var meta Meta
	cpath := filepath.Join(dir, ConfigFile)
	if err := readJSON(cpath, &meta); err != nil {
		return student.Config{}, nil, "", err
	}
	if err := meta.Student.Validate(); err != nil {
		return student.Config{}, nil, "", fmt.Errorf("%s: %w", cpath, err)
	}
	mpath := filepath.Join(dir, ModelFile)
	ts, _, err := ReadSafetensorsFile(mpath)
	if err != nil {
		return student.Config{}, nil, "", err
	}
	if err := checkWeights(mpath, meta.Student, ts); err != nil {
		return student.Config{}, nil, "", err
	}
	if meta.Version >= 2 {
		if err := verifySums(dir, ConfigFile, ModelFile, TokenizerFile, TokenizerConfigFile, GenerationConfigFile); err != nil {
			return student.Config{}, nil, "", err
		}
	}
	m := make(map[string][]float32, len(ts))
	for _, t := range ts {
		m[t.Name] = t.Data
	}
	tok := filepath.Join(dir, TokenizerFile)
	if _, err := os.Stat(tok); err != nil {
		tok = ""
	}
	return meta.Student, m, tok, nil
}

// ExpectedShapes is the llama.cpp-named parameter set a student config
// implies (see model/student): name → shape.
func ExpectedShapes(c student.Config) map[string][]int {
	d, hd := c.DModel, c.HeadDim()
	q, kv := c.NHeads*hd, c.NKVHeads*hd
	m := map[string][]int{
		"token_embd.weight":  {c.VocabSize, d},
		"output_norm.weight": {d},
	}
	if c.UntieEmbed {
		m["output.weight"] = []int{c.VocabSize, d}
	}
	for i := 0; i < c.NLayers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		m[p+"attn_norm.weight"] = []int{d}
		m[p+"attn_q.weight"] = []int{q, d}
		m[p+"attn_k.weight"] = []int{kv, d}
		m[p+"attn_v.weight"] = []int{kv, d}
		m[p+"attn_output.weight"] = []int{d, q}
		m[p+"ffn_norm.weight"] = []int{d}
		m[p+"ffn_gate.weight"] = []int{c.FFNDim, d}
		m[p+"ffn_up.weight"] = []int{c.FFNDim, d}
		m[p+"ffn_down.weight"] = []int{d, c.FFNDim}
		if c.QKVBias() {
			m[p+"attn_q.bias"], m[p+"attn_k.bias"], m[p+"attn_v.bias"] = []int{q}, []int{kv}, []int{kv}
		}
		if c.QKNorm() {
			m[p+"attn_q_norm.weight"], m[p+"attn_k_norm.weight"] = []int{hd}, []int{hd}
		}
	}
	return m
}

func checkWeights(path string, cfg student.Config, ts []Tensor) error {
	want := ExpectedShapes(cfg)
	have := make(map[string]bool, len(ts))
	for _, t := range ts {
		have[t.Name] = true
		if i := FirstNonFinite(t.Data); i >= 0 {
			return fmt.Errorf("%s: tensor %s holds %v at index %d", path, t.Name, t.Data[i], i)
		}
		if shape, ok := want[t.Name]; ok && !slices.Equal(shape, t.Shape) {
			return fmt.Errorf("%s: tensor %s has shape %v, the config implies %v", path, t.Name, t.Shape, shape)
		}
	}
	var missing []string
	for name := range want {
		if !have[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		if len(missing) > 5 {
			missing = append(missing[:5], fmt.Sprintf("… %d more", len(missing)-5))
		}
		return fmt.Errorf("%s: missing tensors %s", path, strings.Join(missing, ", "))
	}
	return nil
}

// checkMoments checks the AdamW moments against the weights. A checkpoint
// at optimizer step 0 may hold none (an imported model, SaveImported).
func checkMoments(path string, weights, moments []Tensor, optimizerStep int64) error {
	if len(moments) == 0 && optimizerStep == 0 {
		return nil
	}
	byName := make(map[string]Tensor, len(moments))
	for _, t := range moments {
		byName[t.Name] = t
		if i := FirstNonFinite(t.Data); i >= 0 {
			return fmt.Errorf("%s: tensor %s holds %v at index %d", path, t.Name, t.Data[i], i)
		}
	}
	for _, w := range weights {
		for _, mo := range []string{"exp_avg", "exp_avg_sq"} {
			n := MomentName(w.Name, mo)
			t, ok := byName[n]
			if !ok {
				return fmt.Errorf("%s: missing tensor %s", path, n)
			}
			if !slices.Equal(t.Shape, w.Shape) {
				return fmt.Errorf("%s: tensor %s has shape %v, its parameter has %v", path, n, t.Shape, w.Shape)
			}
		}
	}
	if len(moments) != 2*len(weights) {
		return fmt.Errorf("%s: %d tensors for %d parameters (want 2 each)", path, len(moments), len(weights))
	}
	return nil
}

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// tokenizerCopy is a file Save copies in from beside the tokenizer.
type tokenizerCopy struct{ name, src string }

// tokenizerCopies lists tokenizer.json and, when they exist, its
// tokenizer_config.json (tokenizer.ConfigPath) and the generation_config.json
// in its directory.
func tokenizerCopies(tokPath string) []tokenizerCopy {
	if tokPath == "" {
		return nil
	}
	out := []tokenizerCopy{{TokenizerFile, tokPath}}
	for _, c := range []tokenizerCopy{
		{TokenizerConfigFile, tokenizer.ConfigPath(tokPath)},
		{GenerationConfigFile, filepath.Join(filepath.Dir(tokPath), GenerationConfigFile)},
	} {
		if fileExists(c.src) {
			out = append(out, c)
		}
	}
	return out
}
