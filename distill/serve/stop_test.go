package serve

import (
	"math/rand"
	"strings"
	"testing"
)

// naiveStop is the reference: the earliest stop string anywhere in text, else
// the longest proper prefix of a stop string that text ends with.
func naiveStop(text string, stops []string) (cut int, stopped bool, hold int) {
	best := -1
	for _, st := range stops {
		if i := strings.Index(text, st); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best >= 0 {
		return best, true, 0
	}
	for _, st := range stops {
		for k := len(st) - 1; k > hold; k-- {
			if strings.HasSuffix(text, st[:k]) {
				hold = k
				break
			}
		}
	}
	return 0, false, hold
}

// TestStopMatcherAgreesWithNaive grows random texts over a small alphabet
// token by token (tokens of 1-4 bytes) and compares every step.
func TestStopMatcherAgreesWithNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[rng.Intn(3)]
		}
		return string(b)
	}
	for trial := 0; trial < 2000; trial++ {
		stops := make([]string, 1+rng.Intn(4))
		for i := range stops {
			stops[i] = word(1 + rng.Intn(6))
		}
		m := newStopMatcher(stops)
		var text []byte
		for step := 0; step < 40; step++ {
			text = append(text, word(1+rng.Intn(4))...)
			cut, stopped, hold := m.feed(text)
			wc, ws, wh := naiveStop(string(text), stops)
			if cut != wc || stopped != ws || hold != wh {
				t.Fatalf("stops %q text %q: got (%d %v %d), want (%d %v %d)", stops, text, cut, stopped, hold, wc, ws, wh)
			}
			if stopped {
				break
			}
		}
	}
}

// TestStopMatchingIsLinear: a long generation, one byte per token, against
// the largest allowed stop list must cost work proportional to the text, not
// to its square (the quadratic scan held the only decode slot for minutes).
func TestStopMatchingIsLinear(t *testing.T) {
	const n = 20000
	stops := make([]string, defaultMaxStops)
	for i := range stops {
		stops[i] = strings.Repeat("a", defaultMaxStopBytes-1) + string(rune('b'+i))
	}
	m := newStopMatcher(stops)
	text := make([]byte, 0, n)
	for i := 0; i < n; i++ {
		text = append(text, 'a') // always a prefix of every stop: the worst case for hold-back
		if _, stopped, _ := m.feed(text); stopped {
			t.Fatal("no stop string occurs in the text")
		}
	}
	// Each byte is examined a bounded number of times per stop string
	// (amortized), plus building each stop's tables once.
	budget := 4 * n * len(stops)
	for _, st := range stops {
		budget += 4 * len(st)
	}
	if m.steps > budget {
		t.Fatalf("matching %d bytes against %d stops examined %d bytes, want at most %d", n, len(stops), m.steps, budget)
	}
}
