package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/distill-ml/distill/data/chattemplate"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/release"
	"github.com/distill-ml/distill/format/gguf"
	"github.com/distill-ml/distill/format/quant"
	"github.com/distill-ml/distill/internal/atomicfile"
)

// Provenance says where approved artifacts came from.
type Provenance struct {
	TrainRun       string // the student's training run directory (its config.json records the dataset)
	DistillVersion string
	LlamaCppBuild  string // the llama.cpp build the GGUF format is verified against in the test suite
}

// WriteReleases writes, for every approved candidate, a release directory
// dir/<name>/ holding the GGUF, the gate report, an Ollama Modelfile
// (release.Modelfile: the GGUF's chat template as TEMPLATE, its end-of-turn
// and EOS tokens as stops) and a manifest.json with
// per-file sha256, model facts, provenance and the gate's thresholds and
// measurements (which release.CheckGate cross-checks against gate.json). It
// returns the directories written; sign them with release.Sign.
func WriteReleases(dir string, rep *Report, prov Provenance) ([]string, error) {
	p, err := readProvenance(prov)
	if err != nil {
		return nil, err
	}
	gateJSON, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range rep.Artifacts {
		if a.Baseline || a.Reference || !a.Approved {
			continue
		}
		rd := filepath.Join(dir, a.Name)
		if err := os.RemoveAll(rd); err != nil {
			return nil, err
		}
		file := a.Name + ".gguf"
		if err := atomicfile.Copy(a.Path, filepath.Join(rd, file), 0o644); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(filepath.Join(rd, "gate.json"), append(gateJSON, '\n'), 0o644); err != nil {
			return nil, err
		}
		mf, err := modelfile(a.Path, file)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(filepath.Join(rd, release.ModelfileName), mf, 0o644); err != nil {
			return nil, err
		}
		model, err := modelFacts(a.Path)
		if err != nil {
			return nil, err
		}
		model.File = file
		m := &release.Manifest{
			// The id is Name-Version: "distill-student-q8_0-<time>" (the
			// artifact's name already says "student").
			Name: "distill", Version: a.Name + "-" + rep.Created.Format("20060102T150405Z"),
			Model:      model,
			Runtime:    release.Runtime{DistillVersion: prov.DistillVersion, LlamaCppBuild: prov.LlamaCppBuild},
			Provenance: p,
			Gate:       release.Gate{Approved: true, Artifact: a.Name, Thresholds: map[string]float64{}, Measured: map[string]float64{}, Report: "gate.json"},
		}
		for _, c := range a.Checks {
			key := release.GateKey(c.Route, c.Name)
			m.Gate.Thresholds[key] = c.Limit
			m.Gate.Measured[key] = c.Value
		}
		if err := release.Write(rd, m); err != nil {
			return nil, err
		}
		out = append(out, rd)
	}
	return out, nil
}

func readProvenance(prov Provenance) (release.Provenance, error) {
	var p release.Provenance
	if prov.TrainRun == "" {
		return p, nil
	}
	cfgPath := filepath.Join(prov.TrainRun, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return p, fmt.Errorf("provenance: %w", err)
	}
	sum := sha256.Sum256(b)
	p.TrainingConfigHash = "sha256:" + hex.EncodeToString(sum[:])
	var run struct {
		Config struct {
			Data struct {
				Train string `json:"train"`
			} `json:"data"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &run); err != nil {
		return p, fmt.Errorf("provenance %s: %w", cfgPath, err)
	}
	if run.Config.Data.Train == "" {
		return p, fmt.Errorf("provenance %s: no data.train recorded", cfgPath)
	}
	mpath := filepath.Join(run.Config.Data.Train, dataset.ManifestName)
	mb, err := os.ReadFile(mpath)
	if err != nil {
		return p, fmt.Errorf("provenance: %w", err)
	}
	ms := sha256.Sum256(mb)
	p.DatasetManifestHash = "sha256:" + hex.EncodeToString(ms[:])
	dm, err := dataset.ReadManifest(run.Config.Data.Train)
	if err != nil {
		return p, fmt.Errorf("provenance: %w", err)
	}
	if dm.Meta.Teacher != "" {
		p.Teachers = []string{dm.Meta.Teacher}
	}
	p.PolicyHash = dm.Meta.PolicyHash
	return p, nil
}

// modelFacts reads architecture, parameter count, file type, tokenizer hash
// and context length from a GGUF.
func modelFacts(path string) (release.Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return release.Model{}, err
	}
	defer f.Close()
	var m release.Model
	if m.Architecture, err = f.String(gguf.KeyArchitecture); err != nil {
		return m, err
	}
	for _, t := range f.Tensors {
		m.Parameters += int64(t.Elements())
	}
	if ft, err := f.Uint(gguf.KeyFileType); err == nil {
		m.QuantType = fmt.Sprintf("file_type %d", ft)
		if t, ok := quant.FileTypeOfGGUF(ft); ok {
			m.QuantType = t.String()
		}
	}
	if _, ok := f.KV(gguf.KeyDistillTokenizerHash); ok {
		m.TokenizerHash, _ = f.String(gguf.KeyDistillTokenizerHash)
	}
	if cl, err := f.Uint(m.Architecture + ".context_length"); err == nil {
		m.ContextLength = int(cl)
	}
	return m, nil
}

// modelfile writes the Ollama Modelfile of the GGUF at path (released as
// file) from its tokenizer.chat_template and special tokens.
func modelfile(path, file string) ([]byte, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var tokens []string
	if _, ok := f.KV(gguf.KeyTokenizerTokens); ok {
		if tokens, err = f.Strings(gguf.KeyTokenizerTokens); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	piece := func(key string) string {
		if _, ok := f.KV(key); !ok {
			return ""
		}
		id, err := f.Uint(key)
		if err != nil || id >= uint64(len(tokens)) {
			return ""
		}
		return tokens[id]
	}
	bos, eos, eot := piece(gguf.KeyTokenizerBOS), piece(gguf.KeyTokenizerEOS), piece(gguf.KeyTokenizerEOT)
	if eot == "" {
		eot = eos
	}
	stops := []string{eot}
	if eos != eot {
		stops = append(stops, eos)
	}
	var chat *chattemplate.Chat
	if _, ok := f.KV(gguf.KeyChatTemplate); ok {
		src, err := f.String(gguf.KeyChatTemplate)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if chat, err = chattemplate.NewChat(src, bos, eos, eot); err != nil {
			// Released all the same; the Modelfile says why it has no TEMPLATE.
			note := "# the chat template did not parse: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n"
			return append([]byte(note), release.Modelfile(file, nil, stops)...), nil
		}
	}
	return release.Modelfile(file, chat, stops), nil
}
