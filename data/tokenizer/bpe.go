package tokenizer

// mergeKey packs a pair of token ids into one map key.
func mergeKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// mergeVal packs a merge's rank (priority, lower first) and resulting id.
func mergeVal(rank int32, result int32) uint64 {
	return uint64(uint32(rank))<<32 | uint64(uint32(result))
}

// scanWord is the longest piece merged with the quadratic scan (fastest for
// short pieces: a linear pass over cached pair ranks per merge); longer
// pieces use bpePasses, which falls back to a heap so that pathological
// inputs stay O(n log n). stackWord pieces need no allocation.
const (
	scanWord  = 64
	stackWord = 128
)

// modelWord appends the BPE tokens of one pre-token: over its bytes for a
// byte-level vocabulary, over its characters for a text vocabulary.
func (t *Tokenizer) modelWord(w string, out []int32, pc *pairCache) []int32 {
	if t.textVocab() {
		return t.charWord(w, out, pc)
	}
	return t.bpeWord(w, out, pc)
}

// bpeWord appends the BPE tokens of one pre-token (raw bytes) to out.
func (t *Tokenizer) bpeWord(w string, out []int32, pc *pairCache) []int32 {
	if len(w) == 1 {
		return append(out, t.byteID[w[0]])
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[w]; ok {
			return append(out, id)
		}
	}
	if len(w) > scanWord {
		return t.bpePasses(w, out, pc)
	}
	return t.bpeScan(w, out, pc)
}

// maxPasses bounds bpePasses before it hands the rest to the heap.
const maxPasses = 48

// bpePasses is BPE for long pieces by passes: each pass finds the lowest
// rank r among adjacent pairs and merges its occurrences left to right,
// stopping the pass as soon as a merge creates a pair ranked below r (the
// standard order would merge that one next). This is exactly the standard
// algorithm, in O(n) per distinct rank; long repetitive runs need few
// passes. After maxPasses it continues with the heap.
func (t *Tokenizer) bpePasses(w string, out []int32, pc *pairCache) []int32 {
	n := len(w)
	sym := make([]int32, n)
	rank := make([]uint32, n)
	for i := 0; i < n; i++ {
		sym[i] = t.byteID[w[i]]
	}
	for i := 0; i+1 < n; i++ {
		rank[i] = uint32(t.pair(sym[i], sym[i+1], pc) >> 32)
	}
	for pass := 0; n > 1; pass++ {
		if pass == maxPasses {
			return t.bpeHeapSyms(sym[:n], out, pc)
		}
		r := noMerge
		for _, x := range rank[:n-1] {
			r = min(r, x)
		}
		if r == noMerge {
			break
		}
		j, i := 0, 0
		stopped, prevMerged := false, false
		var pending uint32 // rank of (sym[j-1], sym[i]) after a merge
		for i < n {
			if !stopped && i+1 < n && rank[i] == r {
				c := int32(uint32(t.pair(sym[i], sym[i+1], pc)))
				i += 2
				if j > 0 {
					rank[j-1] = uint32(t.pair(sym[j-1], c, pc) >> 32)
					if rank[j-1] < r {
						stopped = true
					}
				}
				sym[j] = c
				j++
				if i < n {
					pending = uint32(t.pair(c, sym[i], pc) >> 32)
					if pending < r {
						stopped = true
					}
				}
				prevMerged = true
				continue
			}
			if j > 0 {
				if prevMerged {
					rank[j-1] = pending
				} else {
					rank[j-1] = rank[i-1]
				}
			}
			sym[j] = sym[i]
			i++
			j++
			prevMerged = false
		}
		n = j
	}
	return append(out, sym[:n]...)
}

// bpeScan is BPE by repeatedly merging the leftmost lowest-rank pair.
func (t *Tokenizer) bpeScan(w string, out []int32, pc *pairCache) []int32 {
	var symBuf [stackWord]int32
	n := len(w)
	sym := symBuf[:]
	if n > stackWord {
		sym = make([]int32, n)
	}
	sym = sym[:n]
	for i := 0; i < n; i++ {
		sym[i] = t.byteID[w[i]]
	}
	return t.mergeSyms(sym, out, pc)
}

// mergeSyms runs BPE on initial symbols (modified in place) and appends the
// result: the quadratic scan for short words, the heap for long ones.
func (t *Tokenizer) mergeSyms(sym []int32, out []int32, pc *pairCache) []int32 {
	n := len(sym)
	if n == 0 {
		return out
	}
	if n > scanWord {
		return t.bpeHeapSyms(sym, out, pc)
	}
	var rankBuf [stackWord]uint32
	// rank[i] is the rank of merging sym[i] and sym[i+1] (MaxUint32: none).
	rank := rankBuf[:n-1]
	for i := 0; i < n-1; i++ {
		rank[i] = uint32(t.pair(sym[i], sym[i+1], pc) >> 32)
	}
	for n > 1 {
		best, bi := uint32(noMerge), -1
		for i, r := range rank[:n-1] {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		sym[bi] = int32(uint32(t.pair(sym[bi], sym[bi+1], pc)))
		copy(sym[bi+1:n-1], sym[bi+2:n])
		copy(rank[bi:n-2], rank[bi+1:n-1])
		n--
		if bi > 0 {
			rank[bi-1] = uint32(t.pair(sym[bi-1], sym[bi], pc) >> 32)
		}
		if bi < n-1 {
			rank[bi] = uint32(t.pair(sym[bi], sym[bi+1], pc) >> 32)
		}
	}
	return append(out, sym[:n]...)
}

const noMerge = ^uint32(0)

// noMergeVal is pair's answer for a pair that does not merge.
const noMergeVal = uint64(noMerge) << 32

// pairCache is a small direct-mapped cache in front of the merges map:
// the same few pairs recur, and the map's lookups miss the CPU caches.
type pairCache [1 << 12]struct{ key, val uint64 } // key+1; 0 marks empty

// pair returns mergeVal(rank, result) for merging a and b, or noMergeVal.
func (t *Tokenizer) pair(a, b int32, pc *pairCache) uint64 {
	k := mergeKey(a, b)
	e := &pc[(k*0x9E3779B97F4A7C15)>>52]
	if e.key == k+1 {
		return e.val
	}
	v, ok := t.merges[k]
	if !ok {
		v = noMergeVal
	}
	e.key, e.val = k+1, v
	return v
}

// bpeHeap is BPE with a priority queue of candidate merges ordered by
// (rank, position) and a linked list of symbols, as in Hugging Face tokenizers.
func (t *Tokenizer) bpeHeap(w string, out []int32, pc *pairCache) []int32 {
	sym := make([]int32, len(w))
	for i := range sym {
		sym[i] = t.byteID[w[i]]
	}
	return t.bpeHeapSyms(sym, out, pc)
}

// bpeHeapSyms runs the heap BPE on symbols (modified in place).
func (t *Tokenizer) bpeHeapSyms(sym []int32, out []int32, pc *pairCache) []int32 {
	n := len(sym)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := 0; i < n; i++ {
		prev[i] = int32(i - 1)
		next[i] = int32(i + 1)
	}
	next[n-1] = -1
	q := make(mergeQueue, 0, n)
	push := func(i int32) {
		j := next[i]
		if j < 0 {
			return
		}
		if v := t.pair(sym[i], sym[j], pc); v != noMergeVal {
			q.push(mergeCand{rank: uint32(v >> 32), pos: i, left: sym[i], right: sym[j], result: int32(uint32(v))})
		}
	}
	for i := int32(0); i < int32(n)-1; i++ {
		push(i)
	}
	for len(q) > 0 {
		c := q.pop()
		j := next[c.pos]
		// Skip stale candidates: a side was merged away or changed.
		if sym[c.pos] != c.left || j < 0 || sym[j] != c.right {
			continue
		}
		sym[c.pos] = c.result
		sym[j] = -1
		next[c.pos] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = c.pos
		}
		if prev[c.pos] >= 0 {
			push(prev[c.pos])
		}
		push(c.pos)
	}
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, sym[i])
	}
	return out
}

type mergeCand struct {
	rank                uint32
	pos                 int32
	left, right, result int32
}

func (a mergeCand) less(b mergeCand) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

// mergeQueue is a binary min-heap of merge candidates.
type mergeQueue []mergeCand

func (q *mergeQueue) push(c mergeCand) {
	h := append(*q, c)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	*q = h
}

func (q *mergeQueue) pop() mergeCand {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}
