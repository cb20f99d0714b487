package train

import (
	"errors"

	"github.com/distill-ml/distill/data/batch"
)

// DatasetData is the Data implementation over data/dataset directories and
// data/loader.
type DatasetData struct{}

var errNoLoader = errors.New("dataset loader (data/loader) is not in this build yet")

// Info reads the dataset manifest in dir.
func (DatasetData) Info(dir string) (DatasetInfo, error) { return DatasetInfo{}, errNoLoader }

// TokenizerPath is the tokenizer.json stored with the dataset.
func (DatasetData) TokenizerPath(dir string) (string, error) { return "", errNoLoader }

// TrainLoader opens the shuffled, packed training stream.
func (DatasetData) TrainLoader(dir string, batchSize, seqLen int, seed int64) (Loader, error) {
	return nil, errNoLoader
}

// Validation reads the first maxBatches held-out batches.
func (DatasetData) Validation(dir string, batchSize, seqLen, maxBatches int) ([]*batch.Batch, error) {
	return nil, errNoLoader
}
