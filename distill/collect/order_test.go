package collect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/distill-ml/distill/data/dataset"
	"github.com/distill-ml/distill/distill/collect/retry"
	"github.com/distill-ml/distill/distill/collect/teacher"
	"github.com/distill-ml/distill/distill/serve/servetest"
)

// scrambledTeacher answers every prompt, but finishes them in a
// deterministic order that is not the prompts': it holds requests until a
// batch of min(batch, remaining) is waiting, then lets them finish one at a
// time in reverse prompt order. No sleeps: a request finishes when the
// coordinator closes its channel. Prompts whose text contains "FAIL" fail
// permanently; the prompt with id interruptAt (if set) cancels the run
// instead of being answered.
type scrambledTeacher struct {
	batch       int
	remaining   int
	interruptAt string
	cancelRun   context.CancelFunc

	arrive chan *heldRequest
	stop   chan struct{}
	once   sync.Once
}

type heldRequest struct {
	index   int // position of the prompt in the prompt file (ids are p%03d)
	release chan struct{}
	done    chan struct{}
}

func newScrambledTeacher(t *testing.T, batch, remaining int) *scrambledTeacher {
	st := &scrambledTeacher{batch: batch, remaining: remaining, arrive: make(chan *heldRequest), stop: make(chan struct{})}
	t.Cleanup(func() { st.once.Do(func() { close(st.stop) }) })
	go st.coordinate()
	return st
}

func (st *scrambledTeacher) coordinate() {
	for st.remaining > 0 {
		n := min(st.batch, st.remaining)
		held := make([]*heldRequest, 0, n)
		for len(held) < n {
			select {
			case h := <-st.arrive:
				held = append(held, h)
			case <-st.stop:
				return
			}
		}
		sort.Slice(held, func(a, b int) bool { return held[a].index > held[b].index })
		for _, h := range held {
			close(h.release)
			select {
			case <-h.done:
			case <-st.stop:
				return
			}
			st.remaining--
		}
	}
}

func (st *scrambledTeacher) Name() string { return "remote-teacher" }
func (st *scrambledTeacher) Remote() bool { return true }

func (st *scrambledTeacher) Complete(ctx context.Context, req teacher.Request) (*teacher.Response, error) {
	if req.ID == st.interruptAt {
		st.cancelRun()
		return nil, ctx.Err()
	}
	index, err := strconv.Atoi(strings.TrimPrefix(req.ID, "p"))
	if err != nil {
		return nil, fmt.Errorf("prompt id %q is not p<index>", req.ID)
	}
	h := &heldRequest{index: index, release: make(chan struct{}), done: make(chan struct{})}
	select {
	case st.arrive <- h:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer close(h.done)
	if strings.Contains(req.Prompt, "FAIL") {
		return nil, retry.Permanent("scripted_failure", errors.New("the teacher refuses this prompt"))
	}
	// One position per byte of the answer; top-2: the byte itself and '#'.
	text := fmt.Sprintf(" answer %d: %s.", index, strings.Repeat("x", index%5))
	resp := &teacher.Response{Text: text, FinishReason: "stop", PromptTokens: len(req.Prompt), CompletionTokens: len(text)}
	for i := 0; i < len(text); i++ {
		lp := -0.05 - float64(i%7)/100
		tok := teacher.Alt{Token: text[i : i+1], Logprob: lp}
		resp.Positions = append(resp.Positions, teacher.Position{Alt: tok, Top: []teacher.Alt{tok, {Token: "#", Logprob: -3}}})
	}
	return resp, nil
}

// orderEnv is a collection config over n public prompts p000…, every 7th
// of which the teacher refuses, written in segments of 5 rows.
func orderEnv(t *testing.T, n int) *env {
	t.Helper()
	e := newEnv(t, 1)
	var b strings.Builder
	for i := 0; i < n; i++ {
		p := Prompt{ID: fmt.Sprintf("p%03d", i), Prompt: fmt.Sprintf("Question %d about valve %d?", i, i*7%11), Class: "public"}
		if i%7 == 4 {
			p.Prompt = fmt.Sprintf("FAIL question %d", i)
		}
		line, _ := json.Marshal(p)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(e.cfg.Prompts, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.TopK = 2
	e.cfg.SegmentRows = 5
	e.cfg.Retry.MaxAttempts = 1
	return e
}

// collectWith runs one collection into a fresh output directory.
func collectWith(t *testing.T, ctx context.Context, e *env, concurrency int, tt teacher.Teacher, out string) (*Summary, error) {
	t.Helper()
	cfg := e.cfg
	cfg.Concurrency = concurrency
	cfg.Out = out
	cfg.Defaults()
	return Run(ctx, Options{Config: cfg, Teacher: tt, Tokenizer: servetest.Tokenizer{}, EOS: servetest.EOS, Policy: e.pol, Seed: 1})
}

// datasetDigest is the sha256 of the dataset's manifest and of every shard
// file it lists, in manifest order, computed here from the bytes on disk.
func datasetDigest(t *testing.T, dir string) []string {
	t.Helper()
	m, err := dataset.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := []string{dataset.ManifestName}
	for _, sh := range m.Shards {
		files = append(files, sh.File)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out = append(out, f+" "+hex.EncodeToString(sum[:]))
	}
	return out
}

// storedPromptIDs lists the dataset's rows' prompt ids in storage order.
func storedPromptIDs(t *testing.T, dir string) []string {
	t.Helper()
	d, err := dataset.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	err = d.Each(func(_ int, _ int64, r *dataset.Record) error {
		var prov struct {
			PromptID string `json:"prompt_id"`
		}
		if err := json.Unmarshal([]byte(r.Provenance), &prov); err != nil {
			return err
		}
		ids = append(ids, prov.PromptID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestRowsAreWrittenInPromptOrder: with responses finishing in a scrambled
// order at concurrency 4, the dataset is byte-identical to a concurrency-1
// run and to a second concurrency-4 run, and its rows follow the prompt file.
func TestRowsAreWrittenInPromptOrder(t *testing.T) {
	const n = 40
	e := orderEnv(t, n)
	failing := n / 7 // i%7 == 4 for i < 40: 4, 11, 18, 25, 32, 39
	if n%7 > 4 {
		failing++
	}
	dir := t.TempDir()
	var digests [][]string
	for run, conc := range []int{1, 4, 4} {
		out := filepath.Join(dir, fmt.Sprint(run))
		sum, err := collectWith(t, context.Background(), e, conc, newScrambledTeacher(t, conc, n), out)
		if err != nil {
			t.Fatal(err)
		}
		if !sum.Complete || int(sum.Rows) != n-failing || sum.Failed != failing {
			t.Fatalf("run %d: summary %+v", run, sum)
		}
		digests = append(digests, datasetDigest(t, filepath.Join(out, DatasetDir)))
		var want []string
		for i := 0; i < n; i++ {
			if i%7 != 4 {
				want = append(want, fmt.Sprintf("p%03d", i))
			}
		}
		if got := storedPromptIDs(t, filepath.Join(out, DatasetDir)); !reflect.DeepEqual(got, want) {
			t.Errorf("run %d (concurrency %d): rows stored in order %v, want prompt order", run, conc, got)
		}
	}
	if !reflect.DeepEqual(digests[0], digests[1]) || !reflect.DeepEqual(digests[1], digests[2]) {
		t.Errorf("dataset bytes differ:\nconcurrency 1: %v\nconcurrency 4: %v\nconcurrency 4 again: %v", digests[0], digests[1], digests[2])
	}
}

// TestInterruptedAndResumedRunIsByteIdentical: a run cancelled half-way
// (while later prompts are in flight) and resumed stores the same bytes as
// an uninterrupted run: an interrupted run commits only whole segments, in
// prompt order, so the resumed run continues at the same segment boundary.
func TestInterruptedAndResumedRunIsByteIdentical(t *testing.T) {
	const n = 40
	e := orderEnv(t, n)
	dir := t.TempDir()
	ref := filepath.Join(dir, "uninterrupted")
	if _, err := collectWith(t, context.Background(), e, 1, newScrambledTeacher(t, 1, n), ref); err != nil {
		t.Fatal(err)
	}
	// p023 comes after 19 stored rows: three whole segments and a partial one.
	out := filepath.Join(dir, "resumed")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := newScrambledTeacher(t, 4, n)
	first.interruptAt, first.cancelRun = "p023", cancel
	sum, err := collectWith(t, ctx, e, 4, first, out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if sum.Complete || sum.Rows == 0 || sum.Rows%5 != 0 {
		t.Fatalf("interrupted run stored %d rows (complete %v): want whole segments of 5", sum.Rows, sum.Complete)
	}
	if got := storedPromptIDs(t, filepath.Join(out, DatasetDir)); len(got) != int(sum.Rows) {
		t.Fatalf("interrupted dataset holds %d rows, summary says %d", len(got), sum.Rows)
	}
	remaining := n - int(sum.Rows) - sum.Failed
	sum, err = collectWith(t, context.Background(), e, 4, newScrambledTeacher(t, 4, remaining), out)
	if err != nil || !sum.Complete {
		t.Fatalf("resumed run: %v (%+v)", err, sum)
	}
	want, got := datasetDigest(t, filepath.Join(ref, DatasetDir)), datasetDigest(t, filepath.Join(out, DatasetDir))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("interrupted and resumed dataset differs from an uninterrupted run:\n got %v\nwant %v", got, want)
	}
}
