package tokenizer

// mergeKey packs a pair of token ids into one map key.
func mergeKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// mergeVal packs a merge's rank (priority, lower first) and resulting id.
func mergeVal(rank int32, result int32) uint64 {
	return uint64(uint32(rank))<<32 | uint64(uint32(result))
}

// scanWord is the longest piece merged with the quadratic scan (fastest in
// practice: a linear pass over cached pair ranks per merge); longer pieces use
// a heap so that pathological inputs stay O(n log n). stackWord pieces need
// no allocation.
const (
	scanWord  = 256
	stackWord = 128
)

// bpeWord appends the BPE tokens of one pre-token (raw bytes) to out.
func (t *Tokenizer) bpeWord(w string, out []int32) []int32 {
	if len(w) == 1 {
		return append(out, t.byteID[w[0]])
	}
	if t.ignoreMerges {
		if id, ok := t.vocab[w]; ok {
			return append(out, id)
		}
	}
	if len(w) > scanWord {
		return t.bpeHeap(w, out)
	}
	return t.bpeScan(w, out)
}

// bpeScan is BPE by repeatedly merging the leftmost lowest-rank pair.
func (t *Tokenizer) bpeScan(w string, out []int32) []int32 {
	var symBuf [stackWord]int32
	var rankBuf [stackWord]uint32
	n := len(w)
	sym, rank := symBuf[:], rankBuf[:]
	if n > stackWord {
		sym, rank = make([]int32, n), make([]uint32, n)
	}
	sym = sym[:n]
	for i := 0; i < n; i++ {
		sym[i] = t.byteID[w[i]]
	}
	// rank[i] is the rank of merging sym[i] and sym[i+1] (MaxUint32: none).
	rank = rank[:n-1]
	for i := 0; i < n-1; i++ {
		rank[i] = t.pairRank(sym[i], sym[i+1])
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
		sym[bi] = int32(uint32(t.merges[mergeKey(sym[bi], sym[bi+1])]))
		copy(sym[bi+1:n-1], sym[bi+2:n])
		copy(rank[bi:n-2], rank[bi+1:n-1])
		n--
		if bi > 0 {
			rank[bi-1] = t.pairRank(sym[bi-1], sym[bi])
		}
		if bi < n-1 {
			rank[bi] = t.pairRank(sym[bi], sym[bi+1])
		}
	}
	return append(out, sym[:n]...)
}

const noMerge = ^uint32(0)

func (t *Tokenizer) pairRank(a, b int32) uint32 {
	if v, ok := t.merges[mergeKey(a, b)]; ok {
		return uint32(v >> 32)
	}
	return noMerge
}

// bpeHeap is BPE with a priority queue of candidate merges ordered by
// (rank, position) and a linked list of symbols, as in Hugging Face tokenizers.
func (t *Tokenizer) bpeHeap(w string, out []int32) []int32 {
	n := len(w)
	sym := make([]int32, n)
	prev := make([]int32, n)
	next := make([]int32, n)
	for i := 0; i < n; i++ {
		sym[i] = t.byteID[w[i]]
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
		if v, ok := t.merges[mergeKey(sym[i], sym[j])]; ok {
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
