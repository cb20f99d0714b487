package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/loader"
)

// LoaderOptions shape the batches a Data implementation produces.
type LoaderOptions struct {
	BatchSize int
	SeqLen    int
	Seed      int64
	Split     string    // rows of this split only ("" = all)
	Packing   string    // "auto", "concat" or "whole" (see data/loader)
	Hidden    bool      // decode teacher hidden states (the loss uses them)
	Log       io.Writer // the loader's warnings (packing, rows longer than SeqLen); nil = discard
}

// DatasetData is the Data implementation over data/dataset directories read
// through data/loader.
type DatasetData struct{}

// Info reads the dataset manifest in dir and checks every shard against it
// (size, sha256, row count: dataset.VerifyShards), so a run refuses a
// missing, truncated or altered shard before step 1 instead of training on
// what it could read.
func (DatasetData) Info(dir string) (DatasetInfo, error) {
	ds, err := dataset.Open(dir)
	if err != nil {
		return DatasetInfo{}, err
	}
	if err := dataset.VerifyShards(dir); err != nil {
		return DatasetInfo{}, err
	}
	m := ds.Meta()
	return DatasetInfo{Dir: dir, TokenizerHash: m.TokenizerHash, VocabSize: m.VocabSize, TopK: m.TopK,
		HiddenLayers: m.HiddenLayers, HiddenDim: m.HiddenDim, TailTemperature: m.TailTemperature}, nil
}

// TokenizerPath is <dir>/tokenizer.json when the dataset keeps a copy, else "".
func (DatasetData) TokenizerPath(dir string) (string, error) {
	p := filepath.Join(dir, "tokenizer.json")
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return p, nil
}

func (o LoaderOptions) open(dir string, seed uint64, onePass bool) (*loader.Loader, error) {
	ds, err := dataset.Open(dir)
	if err != nil {
		return nil, err
	}
	return loader.New(ds, loader.Config{BatchSize: o.BatchSize, Context: o.SeqLen, Seed: seed, Split: o.Split,
		Packing: loader.Packing(o.Packing), Hidden: o.Hidden, OnePass: onePass, Log: o.Log})
}

// TrainLoader opens the shuffled, packed training stream (epochs cycle).
func (DatasetData) TrainLoader(dir string, o LoaderOptions) (Loader, error) {
	l, err := o.open(dir, uint64(o.Seed), false)
	if err != nil {
		return nil, err
	}
	return &datasetLoader{l: l}, nil
}

// Validation reads the first maxBatches held-out batches in a fixed order
// (seed 0, independent of the run's seed, so runs compare on the same set).
func (DatasetData) Validation(dir string, o LoaderOptions, maxBatches int) ([]*batch.Batch, error) {
	l, err := o.open(dir, 0, true)
	if err != nil {
		return nil, err
	}
	var out []*batch.Batch
	for len(out) < maxBatches {
		b := new(batch.Batch)
		if err := l.Next(b); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// datasetLoader adapts *loader.Loader to Loader (one reused batch).
type datasetLoader struct {
	l *loader.Loader
	b batch.Batch
}

func (d *datasetLoader) Next() (*batch.Batch, error) {
	if err := d.l.Next(&d.b); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("training data exhausted: %w", err)
		}
		return nil, err
	}
	return &d.b, nil
}

func (d *datasetLoader) State() (json.RawMessage, error) { return json.Marshal(d.l.State()) }

func (d *datasetLoader) Restore(raw json.RawMessage) error {
	var s loader.State
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("loader state: %w", err)
	}
	return d.l.Restore(s)
}
