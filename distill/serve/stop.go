package serve

// stopMatcher finds the request's stop strings in the generated text as it
// grows, and says how many trailing bytes must be held back from a stream
// because they might begin a stop string. Each stop string runs a
// Knuth-Morris-Pratt automaton over the new bytes only, so a generation of
// n bytes costs O(n) per stop string however it is split into tokens.
type stopMatcher struct {
	stops []kmp
	seen  int // bytes of the text already fed to the automata
	steps int // automaton transitions so far: the matching cost, for tests
}

// kmp is one stop string's automaton.
type kmp struct {
	s string
	// border[i] is the length of the longest proper prefix of s[:i+1] that
	// is also its suffix.
	border []int
	// state is the length of the longest prefix of s that the text fed so
	// far ends with.
	state int
}

// newStopMatcher builds the automata; the stop strings are non-empty (the
// request validation rejects empty ones).
func newStopMatcher(stops []string) *stopMatcher {
	m := &stopMatcher{}
	for _, s := range stops {
		if s == "" {
			continue
		}
		k := kmp{s: s, border: make([]int, len(s))}
		for i, j := 1, 0; i < len(s); i++ {
			for j > 0 && s[i] != s[j] {
				j = k.border[j-1]
				m.steps++
			}
			if s[i] == s[j] {
				j++
			}
			k.border[i] = j
			m.steps++
		}
		m.stops = append(m.stops, k)
	}
	return m
}

// feed is called with the whole text generated so far, after each token (the
// text only grows). It returns the offset of the earliest stop string
// (stopped; the matcher must not be fed again), or else how many trailing
// bytes might begin one (hold).
func (m *stopMatcher) feed(text []byte) (cut int, stopped bool, hold int) {
	best := -1
	for i := range m.stops {
		k := &m.stops[i]
		for pos := m.seen; pos < len(text); pos++ {
			c := text[pos]
			for k.state > 0 && k.s[k.state] != c {
				k.state = k.border[k.state-1]
				m.steps++
			}
			if k.s[k.state] == c {
				k.state++
			}
			m.steps++
			if k.state == len(k.s) {
				// The first occurrence of this stop string: earlier bytes
				// were fed without a match.
				if start := pos + 1 - len(k.s); best < 0 || start < best {
					best = start
				}
				break
			}
		}
		hold = max(hold, k.state)
	}
	m.seen = len(text)
	if best >= 0 {
		return best, true, 0
	}
	return 0, false, hold
}
