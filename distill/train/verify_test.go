package train

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
)

// A run used to train on whatever it could read of a dataset whose shard was
// truncated or altered. Info (which Prepare calls for both datasets before
// step 1) now checks every shard's size and sha256 against manifest.json and
// fails naming the shard.
func TestInfoRefusesShardNotMatchingManifest(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(t *testing.T, p string)
		want   string
	}{
		{"truncated", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b[:len(b)-40], 0o644); err != nil {
				t.Fatal(err)
			}
		}, "bytes"},
		{"altered", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x10
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "sha256"},
	} {
		dir := writeEpochDataset(t)
		if _, err := (DatasetData{}).Info(dir); err != nil {
			t.Fatalf("intact dataset: %v", err)
		}
		m, err := dataset.ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		shard := m.Shards[0].File
		c.break_(t, filepath.Join(dir, shard))
		_, err = DatasetData{}.Info(dir)
		if err == nil || !strings.Contains(err.Error(), shard) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s shard: Info error %v, want one naming %s and %q", c.name, err, shard, c.want)
		}
	}
}
