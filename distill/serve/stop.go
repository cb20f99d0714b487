package serve

import "strings"

// stopMatcher finds the request's stop strings in the generated text as it
// grows, and says how many trailing bytes must be held back from a stream
// because they might begin a stop string.
type stopMatcher struct {
	stops []string
	steps int // bytes examined so far: the matching cost, for tests
}

func newStopMatcher(stops []string) *stopMatcher { return &stopMatcher{stops: stops} }

// feed is called with the whole text generated so far, after each token.
// It returns the offset of the earliest stop string (stopped), or else how
// many trailing bytes might begin one (hold).
func (m *stopMatcher) feed(text []byte) (cut int, stopped bool, hold int) {
	best := -1
	for _, st := range m.stops {
		m.steps += len(text)
		if i := strings.Index(string(text), st); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	if best >= 0 {
		return best, true, 0
	}
	for _, st := range m.stops {
		for k := min(len(st)-1, len(text)); k > hold; k-- {
			m.steps += k
			if strings.HasSuffix(string(text), st[:k]) {
				hold = k
				break
			}
		}
	}
	return 0, false, hold
}
