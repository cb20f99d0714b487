package tokenizer

import (
	"container/heap"
	"fmt"
	"iter"
	"sort"
	"unicode/utf8"
)

// Default special tokens of trained tokenizers, in id order after the
// merged tokens. BOS, EOS and PAD are the first three; <|im_start|> and
// <|im_end|> delimit chat turns (ChatML), and <|im_end|> ends a turn.
var defaultSpecials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|im_start|>", "<|im_end|>"}

// DefaultSpecials returns the special tokens Train adds when none are given.
func DefaultSpecials() []string { return append([]string(nil), defaultSpecials...) }

// DefaultChatTemplate is the ChatML template of trained tokenizers.
const DefaultChatTemplate = "{{ bos_token }}{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"

// TrainConfig configures Train.
type TrainConfig struct {
	// VocabSize is the total number of ids: 256 byte tokens, the merged
	// tokens and the special tokens.
	VocabSize int `yaml:"vocab_size"`
	// Pre is the pre-tokenizer, by llama.cpp name: "llama-bpe" (default),
	// "qwen2" or "gpt-2".
	Pre string `yaml:"pre"`
	// Specials are the special tokens; nil means DefaultSpecials().
	Specials []string `yaml:"specials"`
	// MinFrequency stops training when the best pair occurs fewer times
	// (0 means 1: train until VocabSize is reached or every piece of the
	// corpus is a single token); the vocabulary is then smaller than VocabSize.
	MinFrequency int `yaml:"min_frequency"`
	// ChatTemplate is stored with the tokenizer; "" means DefaultChatTemplate.
	ChatTemplate string `yaml:"chat_template"`
}

// Max sizes accepted by Validate.
const maxTrainVocab = 1 << 20

// Validate checks the configuration.
func (c TrainConfig) Validate() error {
	specials := c.specials()
	if c.VocabSize < 256+len(specials)+1 {
		return fmt.Errorf("vocab_size %d: must be at least %d (256 bytes + %d specials + 1)", c.VocabSize, 256+len(specials)+1, len(specials))
	}
	if c.VocabSize > maxTrainVocab {
		return fmt.Errorf("vocab_size %d: must be at most %d", c.VocabSize, maxTrainVocab)
	}
	if _, err := preKindByName(c.pre()); err != nil {
		return fmt.Errorf("pre: %w", err)
	}
	seen := map[string]bool{}
	for i, s := range specials {
		if s == "" || !utf8.ValidString(s) {
			return fmt.Errorf("specials[%d] %q: must be non-empty valid UTF-8", i, s)
		}
		if seen[s] {
			return fmt.Errorf("specials[%d] %q: duplicate", i, s)
		}
		seen[s] = true
	}
	if c.MinFrequency < 0 {
		return fmt.Errorf("min_frequency %d: must be ≥ 0", c.MinFrequency)
	}
	return nil
}

func (c TrainConfig) pre() string {
	if c.Pre == "" {
		return PreLlama3
	}
	return c.Pre
}

func (c TrainConfig) specials() []string {
	if c.Specials == nil {
		return defaultSpecials
	}
	return c.Specials
}

// TrainStrings is Train over a slice of texts.
func TrainStrings(texts []string, cfg TrainConfig, progress func(done, total int)) (*Tokenizer, error) {
	return Train(func(yield func(string) bool) {
		for _, s := range texts {
			if !yield(s) {
				return
			}
		}
	}, cfg, progress)
}

// Train learns a byte-level BPE tokenizer from texts. It is deterministic:
// the same texts (in any order of documents) and configuration give the
// same tokenizer. Special-token strings in the texts are not learned from.
// progress, if not nil, is called with the number of merges done and the
// number wanted.
//
// With the llama-bpe pre-tokenizer the tokenizer sets ignore_merges, as
// llama.cpp does for that pre-tokenizer, so both tokenize alike.
func Train(texts iter.Seq[string], cfg TrainConfig, progress func(done, total int)) (*Tokenizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}
	kind, _ := preKindByName(cfg.pre())
	specials := cfg.specials()

	// A matcher for the specials, so that they are cut out of the texts.
	matcher, err := build(&spec{pre: kind, vocab: byteVocab(), added: specialTokens(specials, 256)})
	if err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}
	counts := map[string]int64{}
	sp := newSplitter(kind)
	var ends []int
	countValid := func(s string) {
		ends = sp.split(s, ends[:0])
		start := 0
		for _, e := range ends {
			counts[s[start:e]]++
			start = e
		}
	}
	for text := range texts {
		matcher.forEachPlain(text, func(seg string) {
			if utf8.ValidString(seg) {
				countValid(seg)
				return
			}
			start := 0
			for i := 0; i < len(seg); {
				r, w := utf8.DecodeRuneInString(seg[i:])
				if r == utf8.RuneError && w == 1 {
					countValid(seg[start:i])
					start = i + 1
				}
				i += w
			}
			countValid(seg[start:])
		})
	}
	delete(counts, "")

	merges, tokens := learnMerges(counts, cfg.VocabSize-256-len(specials), cfg.minFrequency(), progress)

	s := &spec{
		name:         "trained",
		pre:          kind,
		ignoreMerges: kind == preLlama3,
		chatTemplate: cfg.ChatTemplate,
	}
	if s.chatTemplate == "" {
		s.chatTemplate = DefaultChatTemplate
	}
	for id, b := range tokens {
		s.vocab = append(s.vocab, vocabEntry{bytes: string(b), id: int32(id)})
	}
	for _, m := range merges {
		s.merges = append(s.merges, [2]string{string(tokens[m[0]]), string(tokens[m[1]])})
	}
	s.added = specialTokens(specials, len(tokens))
	t, err := build(s)
	if err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}
	return t, nil
}

func (c TrainConfig) minFrequency() int64 {
	if c.MinFrequency == 0 {
		return 1
	}
	return int64(c.MinFrequency)
}

func byteVocab() []vocabEntry {
	v := make([]vocabEntry, 256)
	for b := range v {
		v[b] = vocabEntry{bytes: string([]byte{byte(b)}), id: int32(b)}
	}
	return v
}

func specialTokens(specials []string, firstID int) []addedToken {
	out := make([]addedToken, len(specials))
	for i, s := range specials {
		out[i] = addedToken{id: int32(firstID + i), content: s, special: true}
	}
	return out
}

// forEachPlain calls f with the text between added-token matches.
func (t *Tokenizer) forEachPlain(text string, f func(string)) {
	start := 0
	for i := 0; i < len(text); {
		if !t.addedFirst[text[i]] {
			i++
			continue
		}
		if _, n := t.matchAdded(text, i); n > 0 {
			f(text[start:i])
			i += n
			start = i
			continue
		}
		i++
	}
	f(text[start:])
}

// pairCount is a heap entry: a candidate merge and its count when pushed.
type pairCount struct {
	count       int64
	left, right int32
}

type pairHeap []pairCount

func (h pairHeap) Len() int { return len(h) }
func (h pairHeap) Less(i, j int) bool {
	if h[i].count != h[j].count {
		return h[i].count > h[j].count
	}
	if h[i].left != h[j].left {
		return h[i].left < h[j].left
	}
	return h[i].right < h[j].right
}
func (h pairHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pairHeap) Push(x any)   { *h = append(*h, x.(pairCount)) }
func (h *pairHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// learnMerges runs BPE training over word counts until wantNew new tokens
// exist or no pair reaches minFreq. It returns the merges (as token ids) and
// the tokens' bytes, ids 0-255 being the bytes themselves. Ties between
// equally frequent pairs go to the lower (left, right) ids.
func learnMerges(counts map[string]int64, wantNew int, minFreq int64, progress func(done, total int)) ([][2]int32, [][]byte) {
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Strings(words)
	type word struct {
		start, n int32
		count    int64
	}
	total := 0
	for _, w := range words {
		total += len(w)
	}
	arena := make([]int32, 0, total)
	ws := make([]word, len(words))
	for i, w := range words {
		ws[i] = word{start: int32(len(arena)), n: int32(len(w)), count: counts[w]}
		for k := 0; k < len(w); k++ {
			arena = append(arena, int32(w[k]))
		}
	}
	tokens := make([][]byte, 256, 256+wantNew)
	for b := range tokens {
		tokens[b] = []byte{byte(b)}
	}
	byBytes := make(map[string]int32, 256+wantNew)
	for b := range tokens {
		byBytes[string(tokens[b])] = int32(b)
	}

	pairCounts := map[uint64]int64{}
	where := map[uint64][]int32{}
	for i, w := range ws {
		syms := arena[w.start : w.start+w.n]
		for k := 0; k+1 < len(syms); k++ {
			key := mergeKey(syms[k], syms[k+1])
			pairCounts[key] += w.count
			if l := where[key]; len(l) == 0 || l[len(l)-1] != int32(i) {
				where[key] = append(l, int32(i))
			}
		}
	}
	h := make(pairHeap, 0, len(pairCounts))
	for key, c := range pairCounts {
		h = append(h, pairCount{c, int32(key >> 32), int32(uint32(key))})
	}
	heap.Init(&h)

	var merges [][2]int32
	stamp := make([]int32, len(ws))
	touched := map[uint64]bool{}
	created := 0
	step := int32(0)
	for created < wantNew && h.Len() > 0 {
		top := heap.Pop(&h).(pairCount)
		key := mergeKey(top.left, top.right)
		cur := pairCounts[key]
		if cur != top.count {
			if cur > 0 {
				heap.Push(&h, pairCount{cur, top.left, top.right})
			}
			continue
		}
		if cur < minFreq {
			break
		}
		a, b := top.left, top.right
		merged := string(tokens[a]) + string(tokens[b])
		c, exists := byBytes[merged]
		if !exists {
			c = int32(len(tokens))
			tokens = append(tokens, []byte(merged))
			byBytes[merged] = c
			created++
		}
		merges = append(merges, [2]int32{a, b})
		step++
		clear(touched)
		for _, wi := range where[key] {
			if stamp[wi] == step {
				continue
			}
			stamp[wi] = step
			w := &ws[wi]
			syms := arena[w.start : w.start+w.n]
			found := false
			for k := 0; k+1 < len(syms); k++ {
				if syms[k] == a && syms[k+1] == b {
					found = true
					break
				}
			}
			if !found {
				continue
			}
			for k := 0; k+1 < len(syms); k++ {
				pairCounts[mergeKey(syms[k], syms[k+1])] -= w.count
			}
			j := 0
			for k := 0; k < len(syms); j++ {
				if k+1 < len(syms) && syms[k] == a && syms[k+1] == b {
					syms[j] = c
					k += 2
				} else {
					syms[j] = syms[k]
					k++
				}
			}
			w.n = int32(j)
			syms = syms[:j]
			for k := 0; k+1 < len(syms); k++ {
				nk := mergeKey(syms[k], syms[k+1])
				pairCounts[nk] += w.count
				if syms[k] == c || syms[k+1] == c {
					touched[nk] = true
					if l := where[nk]; len(l) == 0 || l[len(l)-1] != wi {
						where[nk] = append(l, wi)
					}
				}
			}
		}
		delete(where, key)
		delete(pairCounts, key)
		// Push the pairs that gained counts, in a deterministic order.
		keys := make([]uint64, 0, len(touched))
		for k := range touched {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			if n := pairCounts[k]; n > 0 {
				heap.Push(&h, pairCount{n, int32(k >> 32), int32(uint32(k))})
			}
		}
		if progress != nil && (created%64 == 0 || created == wantNew) {
			progress(created, wantNew)
		}
	}
	if progress != nil {
		progress(created, wantNew)
	}
	return merges, tokens
}
