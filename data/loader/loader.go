// Package loader turns a teacher-signal dataset (package dataset) into
// training batches (package batch): a deterministic shuffle by seed, packing
// of rows into a fixed context, and a resumable position.
//
// # Order
//
// Each epoch visits the shards in a seeded permutation and, inside a shard,
// the rows of the chosen split in a seeded permutation (a two-level shuffle:
// at most two shards are in memory, the current one and the next, which is
// read in the background). Both permutations are functions of
// (seed, epoch, shard) computed with a fixed generator (splitmix64 with
// Fisher-Yates), so they do not change with the Go version. Every epoch has
// its own row order, also for a shard that is read again right away (a
// dataset of one shard), and visits every row once.
//
// # Packing and alignment
//
// Rows are laid end to end into windows of T input positions. Input position
// t of a window holding token tokens[i] of a row has Targets = tokens[i+1] of
// the same row; LossMask is 1 iff i+1 < len(tokens) and i+1 >= prompt_len (the
// target is a completion token), so prompt tokens and the last token of a row
// (whose successor belongs to another row) never count. The teacher top-k,
// tail mass and hidden states at that position are the row's signal for target
// i+1 (signal index i+1-prompt_len, see package dataset); TeacherValid is 1
// where LossMask is 1 and the row carries teacher signals. Positions after the
// end of the data are padding (token 0, masks 0).
//
// Every batch marks its documents (batch.RowStart, whatever the packing): a
// position's row start is the window index of the first token of its row in
// that window — 0 for a row continued from the previous window (concat) —
// and a padding position starts a document of its own. The student's
// attention reads only a position's own row, so rows packed into one window
// never see each other, as the teacher (which scored each row alone) and the
// golden set never do.
//
// PackWhole never splits a row: a row that does not fit in the rest of a
// window starts a fresh one (the rest is padding), so every supervised
// position sees its row from the first token on, the context the teacher's
// signals were computed on. A row longer than T is trained on its last T
// tokens, in a window of its own: its completion and as much of its prompt as
// fits (the end is what the supervised positions need; the start of the
// prompt is what a window that short cannot hold). Its targets before those
// tokens are dropped and counted (Stats.Dropped), and one warning names how
// many rows are too long and the longest.
//
// PackConcat fills every position: a row that does not fit in the rest of a
// window continues at the start of the next, without its earlier context —
// for a row with teacher signals, without the prompt the teacher saw.
//
// PackAuto (or no packing set) is PackWhole for a dataset with teacher
// signals (top-k or hidden states) and PackConcat for a text-only one. An
// explicit PackConcat on a dataset with teacher signals is honoured with one
// warning giving the share of supervised positions that lose part of their
// prompt, packed from the first shard read. Stats counts, for the batches
// returned, the supervised positions that see their whole row prefix.
//
// # Resume
//
// State is the position after the last batch returned: epoch, shard and row
// in the shuffled order, and how many tokens of that row were already used.
// A Loader restored from a State produces exactly the batches a straight run
// would have produced next.
package loader

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/distill-ml/distill/data/batch"
	"github.com/distill-ml/distill/data/dataset"
)

// Packing selects how rows are laid into windows.
type Packing string

const (
	PackAuto   Packing = "auto"   // whole for datasets with teacher signals, concat for text-only ones ("" too)
	PackConcat Packing = "concat" // rows end to end; a row may continue in the next window
	PackWhole  Packing = "whole"  // a row is never split; a row longer than T keeps its last T tokens
)

// Config shapes the batches.
type Config struct {
	BatchSize int     `yaml:"batch_size" json:"batch_size"` // B windows per batch
	Context   int     `yaml:"context" json:"context"`       // T positions per window
	Seed      uint64  `yaml:"seed" json:"seed"`
	Split     string  `yaml:"split" json:"split"` // rows of this split only; "" for all
	Packing   Packing `yaml:"packing" json:"packing"`
	Hidden    bool    `yaml:"hidden" json:"hidden"`     // decode teacher hidden states into batches
	OnePass   bool    `yaml:"one_pass" json:"one_pass"` // io.EOF after one epoch instead of cycling
	// NoPrefetch reads each shard only when it is needed instead of reading
	// the next one in the background while the current one is consumed.
	// Batches are identical either way.
	NoPrefetch bool `yaml:"no_prefetch" json:"no_prefetch"`
	// Log receives warnings (packing that cuts teacher context, rows longer
	// than the window), each at most once per Loader; nil discards them.
	Log io.Writer `yaml:"-" json:"-"`
}

// Validate checks the config once, at the edge.
func (c *Config) Validate() error {
	var errs []error
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("batch_size must be > 0, got %d", c.BatchSize))
	}
	if c.Context <= 0 || c.Context > 1<<20 {
		errs = append(errs, fmt.Errorf("context must be in [1, 2^20], got %d", c.Context))
	}
	switch c.Packing {
	case "", PackAuto, PackConcat, PackWhole:
	default:
		errs = append(errs, fmt.Errorf("packing %q: want %q, %q or %q", c.Packing, PackAuto, PackConcat, PackWhole))
	}
	if len(errs) > 0 {
		return fmt.Errorf("loader config: %w", errors.Join(errs...))
	}
	return nil
}

// State is a resumable position (serializable as JSON).
type State struct {
	Fingerprint string `json:"fingerprint"` // dataset shards + config that shape the order
	Epoch       int    `json:"epoch"`
	Shard       int    `json:"shard"`  // index into the epoch's shard order
	Row         int    `json:"row"`    // index into the shard's row order
	Offset      int    `json:"offset"` // tokens of that row already emitted
	Batches     int64  `json:"batches"`
}

// Stats counts what a Loader has returned since New (Restore does not reset
// it). A supervised position is one with LossMask 1.
type Stats struct {
	Supervised int64 // supervised positions returned
	// FullContext counts the supervised positions whose window holds their
	// row from its first token: the context the teacher's signals saw.
	FullContext int64
	PromptCut   int64 // supervised positions of rows with a prompt whose window misses its start
	NoPrompt    int64 // of PromptCut, those whose window holds none of the prompt
	Dropped     int64 // supervised targets not trained: before the last T tokens of a row longer than T (whole packing)
	LongRows    int64 // rows longer than the window in the shards read so far (each row once)
	LongestRow  int   // tokens in the longest of them
}

// FullContextFraction is FullContext / Supervised (0 before any).
func (s Stats) FullContextFraction() float64 {
	if s.Supervised == 0 {
		return 0
	}
	return float64(s.FullContext) / float64(s.Supervised)
}

// add counts the supervised positions of a chunk: tokens [from, from+count)
// of a row of n tokens whose first pl are the prompt, laid in one window.
func (s *Stats) add(n, pl, from, count int) {
	lo, hi := max(from+1, pl, 1), min(from+count, n-1) // supervised targets j in [lo, hi]
	if hi < lo {
		return
	}
	k := int64(hi - lo + 1)
	s.Supervised += k
	switch {
	case from == 0:
		s.FullContext += k
	case pl > 0:
		s.PromptCut += k
		if from >= pl {
			s.NoPrompt += k
		}
	}
}

// Loader produces batches. It is not safe for concurrent use.
type Loader struct {
	ds   *dataset.Dataset
	meta *dataset.Meta
	cfg  Config // Packing resolved (never auto)
	fp   string

	st    State
	stats Stats

	// Warnings: concatOnTeacher until the first shard is read; surveyed
	// marks the shards (manifest index) whose long rows stats counts.
	concatOnTeacher bool
	surveyed        []bool
	unsurveyed      int
	droppedPerEpoch int64

	// Current shard: rows of the split in shuffled order.
	shardOrder  []int
	loaded      int // shard index (in manifest) held in rows, -1 for none
	loadedEpoch int // epoch whose row order rows holds
	rows        []dataset.Row

	// Current row's decoded teacher signals.
	curRow    int // index into rows whose signals are in the scratch, -1 for none
	sigIDs    []int32
	sigLPs    []float32
	sigTail   []float32
	sigTailT  []float32 // tempered tails, empty when the dataset has none
	sigHidden bool

	done bool

	// Background read of the next shard in the order.
	pending *prefetch
}

// prefetch is a shard being read (and shuffled) in the background.
type prefetch struct {
	epoch, idx int
	ch         chan shardRows
}

type shardRows struct {
	rows []dataset.Row
	err  error
}

// New returns a Loader at the start of epoch 0.
func New(ds *dataset.Dataset, cfg Config) (*Loader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	meta := ds.Meta()
	teacher := meta.TopK > 0 || len(meta.HiddenLayers) > 0
	concatOnTeacher := teacher && cfg.Packing == PackConcat
	if cfg.Packing == "" || cfg.Packing == PackAuto {
		cfg.Packing = PackConcat
		if teacher {
			cfg.Packing = PackWhole
		}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Hidden && len(meta.HiddenLayers) == 0 {
		return nil, fmt.Errorf("loader: hidden states requested but dataset %s has none", ds.Dir)
	}
	if len(ds.Manifest.Shards) == 0 {
		return nil, fmt.Errorf("loader: dataset %s has no shards", ds.Dir)
	}
	if cfg.Split != "" {
		var n int64
		for _, s := range ds.Manifest.Shards {
			n += s.Splits[cfg.Split]
		}
		if n == 0 {
			return nil, fmt.Errorf("loader: dataset %s has no rows in split %q", ds.Dir, cfg.Split)
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d|%s|%d|%s|%v|", cfg.Seed, cfg.Split, cfg.Context, cfg.Packing, cfg.BatchSize)
	for _, s := range ds.Manifest.Shards {
		fmt.Fprintf(h, "%s:%s|", s.File, s.SHA256)
	}
	l := &Loader{ds: ds, meta: meta, cfg: cfg, fp: hex.EncodeToString(h.Sum(nil))[:32], loaded: -1, curRow: -1,
		concatOnTeacher: concatOnTeacher, surveyed: make([]bool, len(ds.Manifest.Shards)), unsurveyed: len(ds.Manifest.Shards)}
	l.st.Fingerprint = l.fp
	l.shardOrder = permutation(len(ds.Manifest.Shards), mix(cfg.Seed, uint64(0), 0xa5a5))
	return l, nil
}

// State returns the position after the last batch.
func (l *Loader) State() State { return l.st }

// Stats returns the counts of the batches returned so far.
func (l *Loader) Stats() Stats { return l.stats }

// Packing is the packing in effect (PackAuto resolved).
func (l *Loader) Packing() Packing { return l.cfg.Packing }

// Restore moves the loader to a saved position.
func (l *Loader) Restore(s State) error {
	if s.Fingerprint != l.fp {
		return fmt.Errorf("loader: state was saved for another dataset or loader config (fingerprint %s, this loader %s)", s.Fingerprint, l.fp)
	}
	if s.Epoch < 0 || s.Shard < 0 || s.Shard > len(l.ds.Manifest.Shards) || s.Row < 0 || s.Offset < 0 || s.Batches < 0 {
		return fmt.Errorf("loader: state %+v out of range", s)
	}
	l.st = s
	l.done = false
	l.shardOrder = permutation(len(l.ds.Manifest.Shards), mix(l.cfg.Seed, uint64(s.Epoch), 0xa5a5))
	l.loaded, l.rows, l.curRow, l.pending = -1, nil, -1, nil
	if s.Shard == len(l.shardOrder) {
		if s.Row != 0 || s.Offset != 0 {
			return fmt.Errorf("loader: state %+v: row and offset past the epoch's last shard", s)
		}
		return l.seek()
	}
	// Row and Offset index the shard's row order of epoch s.Epoch.
	if err := l.load(l.shardOrder[s.Shard]); err != nil {
		return err
	}
	file := l.ds.Manifest.Shards[l.loaded].File
	switch {
	case s.Row > len(l.rows):
		return fmt.Errorf("loader: state row %d beyond the %d rows of shard %s", s.Row, len(l.rows), file)
	case s.Row == len(l.rows) && s.Offset != 0:
		return fmt.Errorf("loader: state offset %d after the last row of shard %s", s.Offset, file)
	case s.Row < len(l.rows) && s.Offset >= len(l.rows[s.Row].Tokens) && s.Offset > 0:
		return fmt.Errorf("loader: state offset %d beyond row %d of shard %s (%d tokens)", s.Offset, s.Row, file, len(l.rows[s.Row].Tokens))
	case l.cfg.Packing == PackWhole && s.Offset != 0:
		return fmt.Errorf("loader: state offset %d inside row %d of shard %s, but whole packing never splits a row (saved by an older loader?)", s.Offset, s.Row, file)
	}
	return l.seek()
}

// Epoch is the current epoch (0-based).
func (l *Loader) Epoch() int { return l.st.Epoch }

// seek makes rows hold the shard at st.Shard, moving to later shards and
// epochs past exhausted ones. It sets done when OnePass ends.
func (l *Loader) seek() error {
	for {
		if l.st.Shard >= len(l.shardOrder) {
			if l.cfg.OnePass {
				l.done = true
				return nil
			}
			l.st.Epoch++
			l.st.Shard, l.st.Row, l.st.Offset = 0, 0, 0
			l.shardOrder = permutation(len(l.ds.Manifest.Shards), mix(l.cfg.Seed, uint64(l.st.Epoch), 0xa5a5))
			continue
		}
		idx := l.shardOrder[l.st.Shard]
		// The same shard in another epoch (always so with one shard) has
		// another row order: reload it.
		if l.loaded != idx || l.loadedEpoch != l.st.Epoch {
			if err := l.load(idx); err != nil {
				return err
			}
		}
		if l.st.Row < len(l.rows) {
			return nil
		}
		l.st.Shard++
		l.st.Row, l.st.Offset = 0, 0
	}
}

// load makes rows hold shard idx's rows of the split, shuffled for the
// current epoch, and starts reading the shard that follows it.
func (l *Loader) load(idx int) error {
	var sr shardRows
	if p := l.pending; p != nil && p.epoch == l.st.Epoch && p.idx == idx {
		sr = <-p.ch
	} else {
		sr = l.readShard(l.st.Epoch, idx)
	}
	l.pending = nil
	if sr.err != nil {
		return sr.err
	}
	l.rows, l.loaded, l.loadedEpoch, l.curRow = sr.rows, idx, l.st.Epoch, -1
	l.survey(idx)
	if !l.cfg.NoPrefetch {
		epoch, pos := l.st.Epoch, l.st.Shard+1
		order := l.shardOrder
		if pos >= len(order) && !l.cfg.OnePass {
			epoch, pos = epoch+1, 0
			order = permutation(len(l.ds.Manifest.Shards), mix(l.cfg.Seed, uint64(epoch), 0xa5a5))
		}
		if pos < len(order) {
			p := &prefetch{epoch: epoch, idx: order[pos], ch: make(chan shardRows, 1)}
			l.pending = p
			go func() { p.ch <- l.readShard(p.epoch, p.idx) }()
		}
	}
	return nil
}

// survey counts the long rows of shard idx (just loaded) the first time it
// is read, and writes the warnings once their facts are known: the concat
// one at the first shard read, the long-row one once every shard was read.
func (l *Loader) survey(idx int) {
	if l.surveyed[idx] {
		return
	}
	T := l.cfg.Context
	file := l.ds.Manifest.Shards[idx].File
	if l.concatOnTeacher {
		l.concatOnTeacher = false
		var s Stats
		pos := 0
		for i := range l.rows {
			n, pl := len(l.rows[i].Tokens), int(l.rows[i].PromptLen)
			for off := 0; off < n; {
				from, take := l.place(pos, n, off)
				if take == 0 {
					pos = 0
					continue
				}
				s.add(n, pl, from, take)
				pos, off = (pos+take)%T, from+take
			}
		}
		if s.Supervised > 0 {
			fmt.Fprintf(l.cfg.Log, "loader: warning: dataset %s has teacher signals but packing is concat: rows are split across windows, "+
				"so some positions are trained on teacher predictions without the prompt the teacher saw "+
				"(packed from shard %s: %.1f%% of the supervised positions lose part of their prompt, %.1f%% all of it); "+
				"packing whole, the default for such datasets, keeps every row in one window\n",
				l.ds.Dir, file, 100*float64(s.PromptCut)/float64(s.Supervised), 100*float64(s.NoPrompt)/float64(s.Supervised))
		}
	}
	for i := range l.rows {
		n, pl := len(l.rows[i].Tokens), int(l.rows[i].PromptLen)
		if n > T {
			l.stats.LongRows++
			l.stats.LongestRow = max(l.stats.LongestRow, n)
			l.droppedPerEpoch += int64(max(0, n-T+1-max(pl, 1)))
		}
	}
	l.surveyed[idx] = true
	l.unsurveyed--
	if l.unsurveyed == 0 && l.stats.LongRows > 0 && l.cfg.Packing == PackWhole {
		split := ""
		if l.cfg.Split != "" {
			split = fmt.Sprintf(" (split %q)", l.cfg.Split)
		}
		fmt.Fprintf(l.cfg.Log, "loader: warning: %d rows of dataset %s%s are longer than the %d-token window (the longest has %d tokens): "+
			"whole packing trains each on its last %d tokens only, its completion and as much of its prompt as fits; "+
			"%d supervised targets before those are not trained (per epoch)\n",
			l.stats.LongRows, l.ds.Dir, split, T, l.stats.LongestRow, T, l.droppedPerEpoch)
	}
}

// readShard reads shard idx's rows of the split and shuffles them for epoch.
// It touches no Loader state but the read-only dataset and config.
func (l *Loader) readShard(epoch, idx int) shardRows {
	sr, err := l.ds.OpenShard(idx)
	if err != nil {
		return shardRows{err: fmt.Errorf("loader: %w", err)}
	}
	defer sr.Close()
	rows, err := sr.ReadAll(func(r *dataset.Row) bool { return l.cfg.Split == "" || r.Split == l.cfg.Split })
	if err != nil {
		return shardRows{err: fmt.Errorf("loader: %w", err)}
	}
	if want := l.ds.Manifest.Shards[idx].Splits[l.cfg.Split]; l.cfg.Split != "" && int64(len(rows)) != want {
		return shardRows{err: fmt.Errorf("loader: shard %s has %d rows of split %q but the manifest lists %d", sr.Path, len(rows), l.cfg.Split, want)}
	}
	perm := permutation(len(rows), mix(l.cfg.Seed, uint64(epoch), uint64(idx)+1))
	shuffled := make([]dataset.Row, len(rows))
	for i, p := range perm {
		shuffled[i] = rows[p]
	}
	return shardRows{rows: shuffled}
}

// prepare decodes the teacher signals of row ri into the scratch buffers.
func (l *Loader) prepare(ri int) error {
	if l.curRow == ri {
		return nil
	}
	row := &l.rows[ri]
	n := len(row.Tokens) - int(row.PromptLen)
	if row.PromptLen < 0 || n < 0 {
		return fmt.Errorf("field prompt_len: %d outside [0, %d]", row.PromptLen, len(row.Tokens))
	}
	for _, t := range row.Tokens {
		if t < 0 || int(t) >= l.meta.VocabSize {
			return fmt.Errorf("field tokens: id %d outside vocab %d", t, l.meta.VocabSize)
		}
	}
	k := l.meta.TopK
	l.sigIDs, l.sigLPs, l.sigTail, l.sigTailT = l.sigIDs[:0], l.sigLPs[:0], l.sigTail[:0], l.sigTailT[:0]
	hasTopK := len(row.TopKTail) > 0 || len(row.TopKIDsLo) > 0 || len(row.TopKIDsHi) > 0 || len(row.TopKLogprobs) > 0
	if hasTopK && k > 0 {
		c, err := dataset.NewTopKCursor(row, n, l.meta)
		if err != nil {
			return err
		}
		l.sigIDs = grow(l.sigIDs, n*k)
		l.sigLPs = grow(l.sigLPs, n*k)
		l.sigTail = grow(l.sigTail, n)
		if c.Tempered() {
			l.sigTailT = grow(l.sigTailT, n)
		}
		for p := 0; p < n; p++ {
			t, err := c.Next(l.sigIDs[p*k:(p+1)*k], l.sigLPs[p*k:(p+1)*k])
			if err != nil {
				return fmt.Errorf("position %d: %w", p, err)
			}
			l.sigTail[p] = t
			if c.Tempered() {
				l.sigTailT[p] = c.TailTempered()
			}
		}
		if err := c.Done(); err != nil {
			return err
		}
		for _, id := range l.sigIDs {
			if id < 0 || int(id) >= l.meta.VocabSize {
				return fmt.Errorf("field topk_ids_lo: id %d outside vocab %d", id, l.meta.VocabSize)
			}
		}
	} else if hasTopK {
		return errors.New("field topk_ids_lo: present but the dataset's topk is 0")
	}
	l.sigHidden = false
	if l.cfg.Hidden && len(row.Hidden) > 0 {
		L, d := len(l.meta.HiddenLayers), l.meta.HiddenDim
		if int64(len(row.Hidden)) != 2*int64(L)*int64(n)*int64(d) {
			return fmt.Errorf("field hidden: %d bytes, want %d layers × %d positions × dim %d × 2", len(row.Hidden), L, n, d)
		}
		l.sigHidden = true
	}
	l.curRow = ri
	return nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// shape sizes b for this loader and clears it.
func (l *Loader) shape(b *batch.Batch) {
	B, T, K := l.cfg.BatchSize, l.cfg.Context, l.meta.TopK
	n := B * T
	b.B, b.T, b.K = B, T, K
	b.Tokens = grow(b.Tokens, n)
	b.Targets = grow(b.Targets, n)
	b.LossMask = grow(b.LossMask, n)
	b.RowStart = grow(b.RowStart, n)
	clear(b.Tokens)
	clear(b.Targets)
	clear(b.LossMask)
	for p := range b.RowStart { // padding: a document of its own
		b.RowStart[p] = int32(p % T)
	}
	if K > 0 {
		b.TopKIDs = grow(b.TopKIDs, n*K)
		b.TopKLogprobs = grow(b.TopKLogprobs, n*K)
		b.TailMass = grow(b.TailMass, n)
		b.TeacherValid = grow(b.TeacherValid, n)
		clear(b.TeacherValid)
		// Other teacher fields are only meaningful where TeacherValid is 1,
		// but are zeroed so that batches compare equal across runs.
		clear(b.TopKIDs)
		clear(b.TopKLogprobs)
		clear(b.TailMass)
		b.TailTemperature = l.meta.TailTemperature
		if l.meta.TailTemperature > 0 {
			b.TailTempered = grow(b.TailTempered, n)
			clear(b.TailTempered)
		} else {
			b.TailTempered = nil
		}
	} else {
		b.TopKIDs, b.TopKLogprobs, b.TailMass, b.TeacherValid = nil, nil, nil, nil
		b.TailTempered, b.TailTemperature = nil, 0
	}
	if l.cfg.Hidden {
		L, d := len(l.meta.HiddenLayers), l.meta.HiddenDim
		b.HiddenLayers = append(b.HiddenLayers[:0], l.meta.HiddenLayers...)
		b.HiddenDim = d
		if len(b.Hidden) != L {
			b.Hidden = make([][]float32, L)
		}
		for i := range b.Hidden {
			b.Hidden[i] = grow(b.Hidden[i], n*d)
			clear(b.Hidden[i])
		}
	} else {
		b.HiddenLayers, b.HiddenDim, b.Hidden = nil, 0, nil
	}
}

// Next fills b with the next batch, reusing its slices. With OnePass it
// returns io.EOF once the epoch is exhausted (a last partial batch is padded).
// Errors name the shard and row at fault.
func (l *Loader) Next(b *batch.Batch) error {
	if l.done {
		return io.EOF
	}
	l.shape(b)
	T := l.cfg.Context
	K := l.meta.TopK
	filled := false
	for w := 0; w < l.cfg.BatchSize; w++ {
		pos := 0 // next free position in window w
		for pos < T {
			if err := l.seek(); err != nil {
				return err
			}
			if l.done {
				break
			}
			ri := l.st.Row
			row := &l.rows[ri]
			if err := l.prepare(ri); err != nil {
				return fmt.Errorf("loader: shard %s row %s: %w", l.ds.Manifest.Shards[l.loaded].File, row.ID, err)
			}
			n := len(row.Tokens)
			from, take := l.place(pos, n, l.st.Offset)
			if take == 0 && n > 0 {
				break // pad the rest of this window; the row starts the next
			}
			l.emit(b, w*T+pos, row, from, take, K)
			l.stats.add(n, int(row.PromptLen), from, take)
			if from > l.st.Offset { // the start of a row longer than T
				l.stats.Dropped += int64(max(0, from+1-max(int(row.PromptLen), 1)))
			}
			filled = true
			pos += take
			l.st.Offset = from + take
			if l.st.Offset == n {
				l.st.Row++
				l.st.Offset = 0
			}
		}
		if l.done {
			break
		}
	}
	if !filled {
		return io.EOF
	}
	l.st.Batches++
	return nil
}

// place decides what of a row of n tokens, offset of them already emitted,
// goes at free position pos of a window: tokens [from, from+take). take 0
// (for n > 0) closes the window: the row starts the next one.
func (l *Loader) place(pos, n, offset int) (from, take int) {
	T := l.cfg.Context
	if l.cfg.Packing == PackWhole {
		switch {
		case n <= T-pos:
			return 0, n
		case pos > 0:
			return 0, 0
		default: // longer than a window: keep its end
			return n - T, T
		}
	}
	return offset, min(n-offset, T-pos)
}

// emit copies tokens [from, from+count) of row to batch positions starting at p.
func (l *Loader) emit(b *batch.Batch, p int, row *dataset.Row, from, count, K int) {
	n := len(row.Tokens)
	pl := int(row.PromptLen)
	copy(b.Tokens[p:p+count], row.Tokens[from:from+count])
	start := int32(p % l.cfg.Context) // the row's first position in this window
	for i := range count {
		b.RowStart[p+i] = start
	}
	teacher := len(l.sigTail) > 0
	lo, hi := -1, -1 // signal range covered, for hidden states
	for i := 0; i < count; i++ {
		j := from + i + 1 // target index in the row
		q := p + i
		if j >= n || j < pl {
			continue
		}
		b.Targets[q] = row.Tokens[j]
		b.LossMask[q] = 1
		if teacher {
			s := j - pl
			b.TeacherValid[q] = 1
			copy(b.TopKIDs[q*K:(q+1)*K], l.sigIDs[s*K:(s+1)*K])
			copy(b.TopKLogprobs[q*K:(q+1)*K], l.sigLPs[s*K:(s+1)*K])
			b.TailMass[q] = l.sigTail[s]
			if len(l.sigTailT) > 0 {
				b.TailTempered[q] = l.sigTailT[s]
			}
		}
		if lo < 0 {
			lo = i
		}
		hi = i + 1
	}
	if l.sigHidden && lo >= 0 {
		L, d := len(l.meta.HiddenLayers), l.meta.HiddenDim
		// Signal index of local position i is from+i+1-pl.
		s0 := from + lo + 1 - pl
		_ = dataset.DecodeHidden(b.Hidden, p+lo, row.Hidden, L, n-pl, d, s0, s0+hi-lo)
	}
	// Targets where the loss does not count (prompt targets) still carry the
	// true next token when it belongs to the row: harmless and informative.
	for i := 0; i < count; i++ {
		if j := from + i + 1; j < n && j < pl {
			b.Targets[p+i] = row.Tokens[j]
		}
	}
}

// mix derives a seed for one permutation.
func mix(seed, epoch, salt uint64) uint64 {
	x := seed ^ 0x9e3779b97f4a7c15*(epoch+1) ^ 0xbf58476d1ce4e5b9*(salt+1)
	return splitmix(&x)
}

func splitmix(x *uint64) uint64 {
	*x += 0x9e3779b97f4a7c15
	z := *x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// permutation is a Fisher-Yates shuffle of 0..n-1 driven by splitmix64.
func permutation(n int, seed uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	x := seed
	for i := n - 1; i > 0; i-- {
		// Unbiased bound by rejection.
		bound := uint64(i + 1)
		limit := -bound % bound // (2^64 - bound) mod bound
		var r uint64
		for {
			r = splitmix(&x)
			if r >= limit {
				break
			}
		}
		j := int(r % bound)
		p[i], p[j] = p[j], p[i]
	}
	return p
}
