package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distill-ml/distill/num/f16"
)

// Problem is one defect found by Validate.
type Problem struct {
	Shard string // shard file name, "" for the manifest/dataset level
	Row   int64  // row index within the shard, -1 when not about a row
	Field string // column, manifest field or metadata key; "" when not about one
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Shard == "" {
		b.WriteString("dataset")
	} else {
		b.WriteString("shard " + p.Shard)
	}
	if p.Row >= 0 {
		fmt.Fprintf(&b, " row %d", p.Row)
	}
	if p.Field != "" {
		b.WriteString(" field " + p.Field)
	}
	return b.String() + ": " + p.Msg
}

// ValidateOptions says what the dataset must match.
type ValidateOptions struct {
	TokenizerHash string // expected tokenizer hash ("" skips the check)
	VocabSize     int    // student vocabulary: every id must be below it (0: the dataset's own)
	MaxProblems   int    // stop collecting after this many (default 1000)
	// Progress, if set, is called after each shard with shards done and total.
	Progress func(done, total int)
}

// Validate checks a dataset directory completely: manifest, shard hashes and
// sizes, file metadata and schema, and every row. It returns every problem
// found (up to MaxProblems); an empty result means the dataset is valid.
func Validate(dir string, opts ValidateOptions) []Problem {
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 1000
	}
	v := &validator{opts: opts}
	v.run(dir)
	return v.probs
}

type validator struct {
	opts  ValidateOptions
	probs []Problem
	ids   map[string]string // id -> "shard row n"
	seen  []int32           // scratch for duplicate top-k ids: generation stamps per id
	gen   int32
}

func (v *validator) add(shard string, row int64, field, format string, args ...any) bool {
	if len(v.probs) < v.opts.MaxProblems {
		v.probs = append(v.probs, Problem{Shard: shard, Row: row, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	return len(v.probs) < v.opts.MaxProblems
}

func (v *validator) full() bool { return len(v.probs) >= v.opts.MaxProblems }

func (v *validator) run(dir string) {
	m, err := ReadManifest(dir)
	if err != nil {
		v.add("", -1, ManifestName, "%v", err)
		return
	}
	meta := &m.Meta
	if v.opts.TokenizerHash != "" && meta.TokenizerHash != v.opts.TokenizerHash {
		v.add("", -1, "meta.tokenizer_hash", "dataset was tokenized with %q, expected %q", meta.TokenizerHash, v.opts.TokenizerHash)
	}
	vocab := meta.VocabSize
	if v.opts.VocabSize > 0 {
		if v.opts.VocabSize < vocab {
			v.add("", -1, "meta.vocab_size", "dataset vocabulary %d is larger than the expected %d", vocab, v.opts.VocabSize)
		}
		vocab = min(vocab, v.opts.VocabSize)
	}
	v.seen = make([]int32, meta.VocabSize)
	v.ids = map[string]string{}
	listed := map[string]bool{}
	for i := range m.Shards {
		listed[m.Shards[i].File] = true
		v.shard(dir, m, i, vocab)
		if v.opts.Progress != nil {
			v.opts.Progress(i+1, len(m.Shards))
		}
		if v.full() {
			return
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		v.add("", -1, "", "list directory: %v", err)
		return
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"):
			v.add(name, -1, "", "leftover temporary file of an interrupted writer")
		case strings.HasSuffix(name, ".parquet") && !listed[name]:
			v.add(name, -1, "", "Parquet file not listed in %s", ManifestName)
		}
	}
}

func (v *validator) shard(dir string, m *Manifest, i int, vocab int) {
	info := m.Shards[i]
	name := info.File
	path := filepath.Join(dir, name)
	// Whole-file checks first: size and sha256.
	f, err := os.Open(path)
	if err != nil {
		v.add(name, -1, "", "%v", err)
		return
	}
	n, sum, err := fileDigest(f)
	f.Close()
	if err != nil {
		v.add(name, -1, "", "read: %v", err)
		return
	}
	if n != info.Bytes {
		v.add(name, -1, "bytes", "file has %d bytes, manifest says %d", n, info.Bytes)
	}
	if sum != info.SHA256 {
		v.add(name, -1, "sha256", "file hashes to %s, manifest says %s", sum, info.SHA256)
	}
	sr, err := OpenShard(path)
	if err != nil {
		v.add(name, -1, "", "%v", err)
		return
	}
	defer sr.Close()
	if err := m.Meta.Compatible(&sr.Meta); err != nil {
		v.add(name, -1, "metadata", "disagrees with the manifest: %v", err)
		return
	}
	if sr.NumRows() != info.Rows {
		v.add(name, -1, "rows", "shard has %d rows, manifest says %d", sr.NumRows(), info.Rows)
	}
	var tokens int64
	splits := map[string]int64{}
	for {
		idx := sr.Index()
		row, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			v.add(name, idx, "", "%v", err)
			return
		}
		tokens += int64(len(row.Tokens))
		splits[row.Split]++
		v.row(name, idx, row, &sr.Meta, vocab)
		if v.full() {
			return
		}
	}
	if tokens != info.Tokens {
		v.add(name, -1, "tokens", "shard has %d tokens, manifest says %d", tokens, info.Tokens)
	}
	if fmt.Sprint(sortedCounts(splits)) != fmt.Sprint(sortedCounts(info.Splits)) {
		v.add(name, -1, "splits", "shard rows per split %v, manifest says %v", sortedCounts(splits), sortedCounts(info.Splits))
	}
}

func sortedCounts(m map[string]int64) []string {
	var s []string
	for k, n := range m {
		s = append(s, fmt.Sprintf("%s:%d", k, n))
	}
	sort.Strings(s)
	return s
}

// row checks one row; every problem names the field.
func (v *validator) row(shard string, idx int64, row *Row, meta *Meta, vocab int) {
	add := func(field, format string, args ...any) { v.add(shard, idx, field, format, args...) }
	if want := RecordID(row.Source, row.Prompt, row.Completion); !idMatches(row.ID, row.Source, row.Prompt, row.Completion) {
		add("id", "%q is not the id of its source and prompt (%s)", row.ID, want)
	} else if prev, dup := v.ids[row.ID]; dup {
		add("id", "duplicate of %s", prev)
	} else {
		v.ids[row.ID] = fmt.Sprintf("shard %s row %d", shard, idx)
	}
	if row.Split == "" {
		add("split", "empty")
	}
	n := len(row.Tokens)
	if n == 0 {
		add("tokens", "empty")
	}
	for j, t := range row.Tokens {
		if t < 0 || int(t) >= vocab {
			add("tokens", "position %d: id %d outside vocab %d", j, t, vocab)
			break
		}
	}
	pl := int(row.PromptLen)
	if pl < 0 || pl > n {
		add("prompt_len", "%d outside [0, %d]", pl, n)
		return
	}
	sig := n - pl
	hasTopK := row.hasTopK()
	hasHidden := len(row.Hidden) > 0
	if (hasTopK || hasHidden) && pl < 1 {
		add("prompt_len", "0, but the row has teacher signals (the first target needs an input token)")
	}
	if hasTopK {
		if row.Teacher == "" {
			add("teacher", "empty for a row with teacher signals")
		}
		v.topk(shard, idx, row, sig, meta, vocab)
	}
	if len(meta.HiddenLayers) > 0 && hasTopK != hasHidden && meta.TopK > 0 {
		add("hidden", "teacher rows must carry both top-k and hidden states (top-k %v, hidden %v)", hasTopK, hasHidden)
	}
	if hasHidden {
		L, d := len(meta.HiddenLayers), meta.HiddenDim
		if L == 0 {
			add("hidden", "present but the dataset declares no hidden layers")
			return
		}
		if want := 2 * int64(L) * int64(sig) * int64(d); int64(len(row.Hidden)) != want {
			add("hidden", "%d bytes, want %d layers × %d positions × dim %d × 2 = %d", len(row.Hidden), L, sig, d, want)
			return
		}
		for i := 0; i+1 < len(row.Hidden); i += 2 {
			if hv := binary.LittleEndian.Uint16(row.Hidden[i:]); hv&0x7c00 == 0x7c00 {
				e := i / 2
				add("hidden", "layer %d position %d: %g is not finite", meta.HiddenLayers[e/(sig*d)], e%(sig*d)/d, f16.Float32(hv))
				break
			}
		}
	}
}

func (v *validator) topk(shard string, idx int64, row *Row, n int, meta *Meta, vocab int) {
	add := func(field, format string, args ...any) { v.add(shard, idx, field, format, args...) }
	k := meta.TopK
	if k <= 0 {
		add("topk_ids_lo", "present but the dataset's topk is 0")
		return
	}
	addErr := func(p int, err error) {
		var fe *FieldError
		if errors.As(err, &fe) {
			if p >= 0 {
				add(fe.Field, "position %d: %s", p, fe.Msg)
			} else {
				add(fe.Field, "%s", fe.Msg)
			}
			return
		}
		add("", "%v", err)
	}
	c, err := NewTopKCursor(row, n, meta)
	if err != nil {
		addErr(-1, err)
		return
	}
	ids := make([]int32, k)
	lps := make([]float32, k)
	for p := 0; p < n; p++ {
		tail, err := c.Next(ids, lps)
		if err != nil {
			addErr(p, err)
			return
		}
		if !(tail >= 0 && tail <= 1) {
			add("topk_tail", "position %d: tail mass %g outside [0, 1]", p, tail)
			return
		}
		if c.Tempered() {
			if msg := checkTemperedTail(tail, c.TailTempered(), meta.TailTemperature); msg != "" {
				add("topk_tail_tempered", "position %d: %s", p, msg)
				return
			}
		}
		v.gen++
		if v.gen == math.MaxInt32 {
			clear(v.seen)
			v.gen = 1
		}
		mass := float64(tail)
		for r := 0; r < k; r++ {
			id := ids[r]
			if id < 0 || int(id) >= vocab {
				add("topk_ids_lo", "position %d rank %d: id %d outside vocab %d", p, r, id, vocab)
				return
			}
			if int(id) < len(v.seen) {
				if v.seen[id] == v.gen {
					add("topk_ids_lo", "position %d rank %d: id %d appears twice", p, r, id)
					return
				}
				v.seen[id] = v.gen
			}
			lp := lps[r]
			if math.IsNaN(float64(lp)) || math.IsInf(float64(lp), 0) || lp > 0 {
				add("topk_logprobs", "position %d rank %d: %g is not a finite logprob <= 0", p, r, lp)
				return
			}
			if r > 0 && lp > lps[r-1] {
				add("topk_logprobs", "position %d rank %d: %g > %g, not sorted descending", p, r, lp, lps[r-1])
				return
			}
			mass += math.Exp(float64(lp))
		}
		// Stored logprobs are within 1/128 nat and the tail within float16
		// precision of exact, so a true distribution sums to 1 ± ~1%.
		if math.Abs(mass-1) > 0.02 {
			add("topk_logprobs", "position %d: top-%d probabilities plus tail mass sum to %.4f, not 1", p, k, mass)
			return
		}
	}
	if err := c.Done(); err != nil {
		addErr(-1, err)
	}
}

// checkTemperedTail checks a tempered tail q against the tail r it tempers
// at T, returning "" when it is plausible: q in [0, 1], and since every tail
// token is less likely than every top-K token, tempering at T > 1 can only
// grow the tail's share and at T < 1 only shrink it (q >= r, resp. q <= r,
// up to float16 rounding of both, subnormals included).
func checkTemperedTail(r, q float32, T float64) string {
	if !(q >= 0 && q <= 1) {
		return fmt.Sprintf("tempered tail %g outside [0, 1]", q)
	}
	const rel, abs = 2.0 / 1024, 1e-7 // two float16 rounding steps
	rr, qq := float64(r), float64(q)
	switch {
	case T > 1 && qq < rr*(1-rel)-abs:
		return fmt.Sprintf("tempered tail %g at T %g is below the tail %g (tempering at T > 1 cannot shrink it)", q, T, r)
	case T < 1 && qq > rr*(1+rel)+abs:
		return fmt.Sprintf("tempered tail %g at T %g is above the tail %g (tempering at T < 1 cannot grow it)", q, T, r)
	}
	return ""
}

// fileDigest reads r to the end: its size in bytes and hex sha256.
func fileDigest(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// VerifyShards checks that every shard the manifest of dataset dir lists is
// the file it describes (size, sha256, a readable footer with the listed row
// count) and fails on the first that is not, naming it: a missing, empty,
// truncated or altered shard. It reads each file once but decodes no rows
// (Validate does); users of a dataset (inspect, train) call it before they
// report or train on anything.
func VerifyShards(dir string) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	for _, s := range m.Shards {
		path := filepath.Join(dir, s.File)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("shard %s: %w", s.File, err)
		}
		n, sum, err := fileDigest(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("shard %s: %w", path, err)
		}
		if n != s.Bytes {
			return fmt.Errorf("shard %s: %d bytes, the manifest lists %d (truncated or replaced)", path, n, s.Bytes)
		}
		if sum != s.SHA256 {
			return fmt.Errorf("shard %s: sha256 %s, the manifest lists %s (the file was altered)", path, sum, s.SHA256)
		}
		sr, err := OpenShard(path)
		if err != nil {
			return err
		}
		rows := sr.NumRows()
		sr.Close()
		if rows != s.Rows {
			return fmt.Errorf("shard %s: %d rows, the manifest lists %d", path, rows, s.Rows)
		}
	}
	return nil
}
