package dataset_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/dataset/datasettest"
)

func TestMetaEqualNamesTheDifferingField(t *testing.T) {
	a := datasettest.Config{Vocab: 300, K: 4}.Meta()
	b := a
	b.TeacherSettings = map[string]string{"top_p": "0.9"}
	err := a.Equal(&b)
	if err == nil || !strings.Contains(err.Error(), `teacher_settings.top_p "1" vs "0.9"`) {
		t.Fatalf("Equal = %v, want the differing teacher setting named", err)
	}
	if a.Compatible(&b) != nil || a.SameSource(&b) != nil {
		t.Fatal("a teacher setting changes neither what rows mean nor who produced them")
	}
	c := a
	c.PolicyHash = "sha256:other"
	if err := a.SameSource(&c); err == nil || !strings.Contains(err.Error(), "policy_hash") {
		t.Fatalf("SameSource = %v, want policy_hash named", err)
	}
	if a.Compatible(&c) != nil {
		t.Fatal("the policy does not change what rows mean")
	}
	if err := a.Equal(&a); err != nil {
		t.Fatal(err)
	}
}

func TestLinkShardsListsEveryInputUnderOneManifest(t *testing.T) {
	cfg := datasettest.Config{Vocab: 300, K: 4, Rows: 12, PromptLen: 3, CompletionLen: 5, Seed: 3, Splits: []string{"train"}}
	recs, _ := datasettest.Generate(cfg)
	root := t.TempDir()
	var inputs []string
	for i, part := range [][]*dataset.Record{recs[:5], recs[5:]} {
		dir := filepath.Join(root, []string{"seg-a", "seg-b"}[i])
		writeDataset(t, dir, cfg.Meta(), part, dataset.WriterOptions{})
		inputs = append(inputs, dir)
	}
	out := filepath.Join(root, "linked")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.LinkShards(out, inputs, dataset.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != int64(len(recs)) || len(m.Shards) != 2 || !strings.HasPrefix(m.Shards[0].File, "seg-a-") || !strings.HasPrefix(m.Shards[1].File, "seg-b-") {
		t.Fatalf("manifest: %d rows, shards %+v", m.Rows, m.Shards)
	}
	var want []*dataset.Record // as the inputs read back (stored logprobs are quantized)
	for _, in := range inputs {
		ds, err := dataset.Open(in)
		if err != nil {
			t.Fatal(err)
		}
		ds.Each(func(_ int, _ int64, r *dataset.Record) error { want = append(want, r); return nil })
	}
	ds, err := dataset.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := ds.Each(func(_ int, _ int64, r *dataset.Record) error {
		if !reflect.DeepEqual(r, want[i]) {
			t.Fatalf("row %d differs", i)
		}
		i++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if i != len(recs) {
		t.Fatalf("read %d rows, want %d", i, len(recs))
	}
}

func TestLinkShardsRefusesInputsWithOtherSettings(t *testing.T) {
	cfg := datasettest.Config{Vocab: 300, K: 4, Rows: 2, PromptLen: 3, CompletionLen: 5, Seed: 3, Splits: []string{"train"}}
	recs, _ := datasettest.Generate(cfg)
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeDataset(t, a, cfg.Meta(), recs, dataset.WriterOptions{})
	other := cfg.Meta()
	other.TeacherSettings = map[string]string{"top_p": "0.5"}
	writeDataset(t, b, other, recs, dataset.WriterOptions{})
	out := filepath.Join(root, "out")
	os.Mkdir(out, 0o755)
	_, err := dataset.LinkShards(out, []string{a, b}, dataset.LinkOptions{})
	if err == nil || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), `teacher_settings.top_p "1" vs "0.5"`) {
		t.Fatalf("LinkShards = %v, want an error naming %s and the differing setting", err, b)
	}
}
