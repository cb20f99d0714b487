package onpolicy

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/model/infer"
)

// packedBatch holds in window 0 a row [0, 4) and a second row [4, 8) packed
// after it (batch.RowStart), and in window 1 that second row alone; loss on
// the rows' completions.
func packedBatch() *batch.Batch {
	const B, T = 2, 8
	b := &batch.Batch{B: B, T: T, Tokens: make([]int32, B*T), Targets: make([]int32, B*T), LossMask: make([]float32, B*T),
		RowStart: []int32{0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 6, 7}}
	first := []int32{1, 2, 3, 9}
	second := []int32{5, 6, 11, 12}
	copy(b.Tokens, append(slices.Clone(first), second...))
	copy(b.Tokens[T:], second)
	for _, row := range []struct{ at, n int }{{0, 4}, {4, 4}, {T, 4}} {
		for i := 0; i < row.n-1; i++ {
			p := row.at + i
			b.Targets[p] = b.Tokens[p+1]
			if i >= 1 {
				b.LossMask[p] = 1
			}
		}
	}
	return b
}

// The teacher scores a packed row as it scores the row alone: it never reads
// the row packed before it (the student's attention does not either), local
// and remote alike; the rollout completes a packed row from its own prompt.
func TestTeacherScoresPackedRowAlone(t *testing.T) {
	m := randomTeacher(t)
	b := packedBatch()
	if err := b.Validate(testVocab); err != nil {
		t.Fatal(err)
	}
	local, err := NewLocal(m, testVocab, false, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, _, st, err := local.Score(b)
	if err != nil {
		t.Fatal(err)
	}
	srv := echoServer(t, m, nil)
	defer srv.Close()
	remote, _, rst, err := remoteFor(t, srv.URL).Score(b)
	if err != nil {
		t.Fatal(err)
	}
	if st.Positions != 6 || rst.Positions != 6 || !slices.Equal(got.RowStart, b.RowStart) || !slices.Equal(remote.RowStart, b.RowStart) {
		t.Fatalf("positions local %d remote %d, want 6; row starts local %v remote %v", st.Positions, rst.Positions, got.RowStart, remote.RowStart)
	}
	const T = 8
	for _, sc := range []struct {
		name string
		o    *batch.Batch
	}{{"local", got}, {"remote", remote}} {
		o := sc.o
		for i := 5; i <= 6; i++ { // the packed row's loss positions and the same row alone
			p, a := i, T+i-4
			if o.TailMass[p] != o.TailMass[a] || !slices.Equal(o.TopKIDs[p*4:p*4+4], o.TopKIDs[a*4:a*4+4]) ||
				!slices.Equal(o.TopKLogprobs[p*4:p*4+4], o.TopKLogprobs[a*4:a*4+4]) {
				t.Fatalf("%s: packed position %d: top-k %v %v tail %v; alone: %v %v tail %v", sc.name, p,
					o.TopKIDs[p*4:p*4+4], o.TopKLogprobs[p*4:p*4+4], o.TailMass[p], o.TopKIDs[a*4:a*4+4], o.TopKLogprobs[a*4:a*4+4], o.TailMass[a])
			}
		}
	}

	// λ = 1: every window with a loss position is completed; the packed
	// window's first loss position is in its first row, so drop that row's
	// loss to make the second row the one completed.
	b.LossMask[1], b.LossMask[2] = 0, 0
	var prompts [][]int32
	smp := samplerFunc(func(ps [][]int32, limits []int) [][]int32 {
		prompts = ps
		out := make([][]int32, len(ps))
		for i := range ps {
			out[i] = []int32{1}
		}
		return out
	})
	_, on, _, err := NewRollout(Config{Lambda: 1, MaxNewTokens: 3, Temperature: 1, TopP: 1}, testVocab, -1).Split(smp, b, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if len(prompts) != 2 || !slices.Equal(prompts[0], prompts[1]) || !slices.Equal(prompts[0], []int32{5, 6}) || on.RowStart != nil {
		t.Fatalf("rollout prompts %v (want the second row's [5 6] twice), on-policy row starts %v", prompts, on.RowStart)
	}
}

// samplerFunc is a Sampler that completes prompts with a function of them.
type samplerFunc func(prompts [][]int32, limits []int) [][]int32

func (f samplerFunc) Sample(prompts [][]int32, limits []int, _ *infer.Sampler, _ int32) ([][]int32, int, error) {
	return f(prompts, limits), 1, nil
}
