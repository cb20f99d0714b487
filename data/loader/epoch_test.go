package loader_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/data/loader"
)

// rowStarts lists, in order, the rows whose first token appears in the
// batches: the order in which the loader visited the rows. Valid for concat
// packing while cycling, which has no padding (token 0 is row 0's first).
func rowStarts(bs []batch.Batch) []int {
	var out []int
	for _, b := range bs {
		for _, tk := range b.Tokens {
			if tk%200 == 0 {
				out = append(out, int(tk)/200)
			}
		}
	}
	return out
}

func totalTokens(lengths []int) int {
	n := 0
	for _, l := range lengths {
		n += l
	}
	return n
}

// Every epoch visits every row exactly once, in an order of its own, with
// one shard as with several; the orders are a function of the seed.
func TestEveryEpochHasItsOwnOrder(t *testing.T) {
	lengths, prompts := testRows()
	for _, shards := range []struct {
		name     string
		maxBytes int64
	}{{"one-shard", 1 << 30}, {"several-shards", 4 << 10}} {
		t.Run(shards.name, func(t *testing.T) {
			ds := buildDatasetShards(t, lengths, prompts, []string{"train"}, shards.maxBytes)
			if n := len(ds.Manifest.Shards); (n == 1) != (shards.maxBytes == 1<<30) {
				t.Fatalf("dataset has %d shards", n)
			}
			const epochs = 4
			cfg := loader.Config{BatchSize: 2, Context: 48, Seed: 11, Packing: loader.PackConcat}
			nb := epochs*totalTokens(lengths)/(cfg.BatchSize*cfg.Context) + 1
			run := func(seed uint64) []int {
				c := cfg
				c.Seed = seed
				l, err := loader.New(ds, c)
				if err != nil {
					t.Fatal(err)
				}
				starts := rowStarts(collect(t, l, nb))
				if len(starts) < epochs*len(lengths) {
					t.Fatalf("%d row starts in %d batches, want %d", len(starts), nb, epochs*len(lengths))
				}
				return starts[:epochs*len(lengths)]
			}
			starts := run(cfg.Seed)
			var orders [][]int
			for e := 0; e < epochs; e++ {
				order := starts[e*len(lengths) : (e+1)*len(lengths)]
				sorted := slices.Sorted(slices.Values(order))
				for i, r := range sorted {
					if r != i {
						t.Fatalf("epoch %d does not visit every row once: sorted order %v", e, sorted)
					}
				}
				for f, prev := range orders {
					same := 0
					for i := range order {
						if order[i] == prev[i] {
							same++
						}
					}
					if same == len(order) {
						t.Fatalf("epoch %d repeats epoch %d's row order %v", e, f, order)
					}
				}
				orders = append(orders, order)
			}
			if !slices.Equal(run(cfg.Seed), starts) {
				t.Fatal("the same seed gave another order")
			}
			if slices.Equal(run(cfg.Seed+1), starts) {
				t.Fatal("another seed gave the same order")
			}
		})
	}
}

// resumeEverywhere checks that a loader restored from the State saved after
// batch cut (JSON round trip) yields exactly the batches an uninterrupted
// loader yields up to batch n, and ends in the same State. The cuts are every
// batch within 2 of a change of epoch (so states mid-epoch, exactly at the
// end of an epoch and just after one) and every 10th batch.
func resumeEverywhere(t *testing.T, ds *dataset.Dataset, cfg loader.Config, n, minEpochs int) {
	t.Helper()
	straight, err := loader.New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var want []batch.Batch
	epochs := []int{0} // epochs[k]: the State's epoch after k batches
	for k := 0; k < n; k++ {
		want = append(want, collect(t, straight, 1)...)
		epochs = append(epochs, straight.Epoch())
	}
	if len(want) != n || straight.Epoch() < minEpochs {
		t.Fatalf("straight run: %d batches, epoch %d; the test should cross %d epochs", len(want), straight.Epoch(), minEpochs)
	}
	nearBoundary := func(cut int) bool {
		for k := max(cut-2, 1); k <= min(cut+3, n); k++ {
			if epochs[k] != epochs[k-1] {
				return true
			}
		}
		return false
	}
	for cut := 0; cut < n; cut++ {
		if cut%10 != 0 && !nearBoundary(cut) {
			continue
		}
		resumed, js := resumeAfter(t, ds, cfg, cut)
		got := collect(t, resumed, n-cut)
		for i := range got {
			if !reflect.DeepEqual(got[i], want[cut+i]) {
				t.Fatalf("resumed after batch %d (state %s): batch %d differs from the straight run", cut, js, cut+i)
			}
		}
		if len(got) != n-cut || resumed.State() != straight.State() {
			t.Fatalf("resumed after batch %d: %d batches, final state %+v, straight %+v", cut, len(got), resumed.State(), straight.State())
		}
	}
}

// resumeAfter runs a loader on cfg for cut batches, round-trips its State
// through JSON and returns a fresh loader restored from it, with the JSON.
func resumeAfter(t *testing.T, ds *dataset.Dataset, cfg loader.Config, cut int) (*loader.Loader, []byte) {
	t.Helper()
	l, err := loader.New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	collect(t, l, cut)
	js, err := json.Marshal(l.State())
	if err != nil {
		t.Fatal(err)
	}
	var st loader.State
	if err := json.Unmarshal(js, &st); err != nil {
		t.Fatal(err)
	}
	resumed, err := loader.New(ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.Restore(st); err != nil {
		t.Fatalf("restore the state after batch %d (%s): %v", cut, js, err)
	}
	return resumed, js
}

// Resuming from the State after any batch — mid-epoch, exactly at an epoch
// boundary, just after one — continues the uninterrupted sequence, over
// several epochs, with one shard and with several, for both packings.
func TestResumeAnywhereAcrossEpochs(t *testing.T) {
	if testing.Short() {
		t.Skip("resumes at every position of several epochs: not in -short")
	}
	lengths, prompts := testRows()
	// 12 rows of 8 tokens in 2×16 windows: an epoch is exactly 3 batches, so
	// states fall exactly on epoch boundaries.
	var aligned, alignedPrompts []int
	for r := 0; r < 12; r++ {
		aligned = append(aligned, 8)
		alignedPrompts = append(alignedPrompts, 1+r%3)
	}
	for _, tc := range []struct {
		name             string
		lengths, prompts []int
		maxBytes         int64
		batch, context   int
	}{
		{"one-shard", lengths, prompts, 1 << 30, 2, 48},
		{"several-shards", lengths, prompts, 4 << 10, 2, 48},
		{"epoch-aligned", aligned, alignedPrompts, 1 << 30, 2, 16},
	} {
		ds := buildDatasetShards(t, tc.lengths, tc.prompts, []string{"train"}, tc.maxBytes)
		for _, packing := range []loader.Packing{loader.PackConcat, loader.PackWhole} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, packing), func(t *testing.T) {
				cfg := loader.Config{BatchSize: tc.batch, Context: tc.context, Seed: 9, Packing: packing, Hidden: true}
				// ~3.5 epochs of concat packing (whole packing pads, so fewer).
				n := 7 * totalTokens(tc.lengths) / (2 * tc.batch * tc.context)
				resumeEverywhere(t, ds, cfg, n, 2)
			})
		}
	}
}

// A State whose row or offset lies outside its shard is refused with an
// error, not silently moved past (which would skip rows).
func TestRestoreRefusesPositionsOutsideTheShard(t *testing.T) {
	lengths, prompts := testRows()
	ds := buildDatasetShards(t, lengths, prompts, []string{"train"}, 1<<30)
	cfg := loader.Config{BatchSize: 2, Context: 48, Seed: 9}
	l, _ := loader.New(ds, cfg)
	collect(t, l, 3)
	good := l.State()
	for _, bad := range []func(s *loader.State){
		func(s *loader.State) { s.Row = len(lengths) + 1 },
		func(s *loader.State) { s.Row, s.Offset = len(lengths), 1 },
		func(s *loader.State) { s.Offset = 1000 },
		func(s *loader.State) { s.Shard = 1 },
	} {
		s := good
		bad(&s)
		r, _ := loader.New(ds, cfg)
		if err := r.Restore(s); err == nil {
			t.Errorf("state %+v accepted", s)
		}
	}
	r, _ := loader.New(ds, cfg)
	if err := r.Restore(good); err != nil {
		t.Fatal(err)
	}
}
