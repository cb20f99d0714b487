// Package synth generates distill's embedded default corpus: maintenance-policy
// manuals for a fleet of handheld scanners and other equipment (rugged
// tablets, label printers, chargers, pumps, compressors, vehicle terminals,
// pallet trucks), with numbered policy paragraphs (§3.2) holding concrete
// intervals, thresholds, vendor exception rules and escalation steps, and
// reading-comprehension question/answer pairs over short policy excerpts.
//
// Every prompt carries 2-5 paragraphs of one manual and a question; the
// completion states the fact and cites the paragraph (" Replace the battery
// pack after 500 charge cycles [§3.2].") or abstains (" Not covered by the
// policy.") when the manual does not cover the question. The task is sized
// for a tiny student: prompt and completion together stay under MaxChars
// (900 by default, about 256 tokens of a 4k-vocabulary BPE).
//
// Generation is deterministic: the package owns its random source, every
// manual draws from its own stream derived from the seed, and outputs hold
// no timestamps, so the same Config yields byte-identical files. The golden
// set (golden.jsonl) is drawn from held-out manuals whose names (manual IDs,
// models, manufacturers, vendors, sites) never occur in the training or
// validation splits. The golden set is versioned (GoldenVersion): its manuals
// and questions come from a fixed recipe of their own (goldenRecipe), so they
// are the same items whatever the corpus seed, scale or excerpt settings;
// GoldenItems only takes a prefix. Score grades a model output against a
// golden item.
package synth

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

const (
	// CorpusVersion names the generator's output format and content recipe.
	// Bump it whenever the same seed would produce different text.
	CorpusVersion = "policyqa-v1"
	// GoldenVersion names the golden-set recipe; the gate records it.
	GoldenVersion = "policyqa-golden-v1"
	// Source is the source field of every generated record.
	Source = "synth:" + CorpusVersion
	// baseManuals is the number of training+validation manuals at Scale 1
	// (about 16 MB of output in total).
	baseManuals = 930
	// maxScale bounds Scale so a typo cannot ask for terabytes.
	maxScale = 50
	// goldenSeed is the seed of GoldenVersion's held-out manuals and
	// questions; it is part of the version, whatever Config.Seed says.
	goldenSeed = 1
)

// goldenRecipe returns the generator settings of GoldenVersion's items: the
// default recipe at goldenSeed, n items. Changing anything it returns changes
// every recorded golden score, so it needs a new GoldenVersion.
func goldenRecipe(n int) Config {
	g := DefaultConfig()
	g.Seed, g.GoldenItems = goldenSeed, n
	return g
}

// Config controls generation. The zero value is not valid; start from
// DefaultConfig. Field names in YAML match the json tags.
type Config struct {
	Seed uint64 `yaml:"seed" json:"seed"`
	// Scale multiplies the number of training and validation manuals
	// (1 = about 9,300 training examples). The golden set does not scale.
	Scale float64 `yaml:"scale" json:"scale"`
	// GoldenItems is the size of the golden set (5 questions per held-out manual).
	GoldenItems int `yaml:"golden_items" json:"golden_items"`
	// ExamplesPerManual is the number of training/validation questions per manual.
	ExamplesPerManual int `yaml:"examples_per_manual" json:"examples_per_manual"`
	// ExcerptMin and ExcerptMax bound the paragraphs shown per prompt.
	ExcerptMin int `yaml:"excerpt_min" json:"excerpt_min"`
	ExcerptMax int `yaml:"excerpt_max" json:"excerpt_max"`
	// MaxChars bounds len(prompt)+len(completion) in bytes; distractor
	// paragraphs are dropped to fit.
	MaxChars int `yaml:"max_chars" json:"max_chars"`
	// AbstainRate is the fraction of training questions the manual does not
	// cover; NearMissRate the fraction of those whose excerpt shows the same
	// topic for another part, vendor or symptom.
	AbstainRate  float64 `yaml:"abstain_rate" json:"abstain_rate"`
	NearMissRate float64 `yaml:"near_miss_rate" json:"near_miss_rate"`
	// ValidationFraction of the (non-golden) manuals go to the validation split.
	ValidationFraction float64 `yaml:"validation_fraction" json:"validation_fraction"`
}

// DefaultConfig returns the default corpus recipe (seed 1, scale 1).
func DefaultConfig() Config {
	return Config{
		Seed: 1, Scale: 1, GoldenItems: 200, ExamplesPerManual: 10,
		ExcerptMin: 2, ExcerptMax: 4, MaxChars: 900,
		AbstainRate: 0.3, NearMissRate: 0.5, ValidationFraction: 0.05,
	}
}

// Validate checks every field's range.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("synth config: %s: "+format, append([]any{field}, args...)...))
	}
	if math.IsNaN(c.Scale) || c.Scale <= 0 || c.Scale > maxScale {
		bad("scale", "%v is outside (0, %d]", c.Scale, maxScale)
	}
	if c.GoldenItems < 1 || c.GoldenItems > 100000 {
		bad("golden_items", "%d is outside [1, 100000]", c.GoldenItems)
	}
	if c.ExamplesPerManual < 1 || c.ExamplesPerManual > 100 {
		bad("examples_per_manual", "%d is outside [1, 100]", c.ExamplesPerManual)
	}
	if c.ExcerptMin < 1 || c.ExcerptMax > 8 || c.ExcerptMin > c.ExcerptMax {
		bad("excerpt_min/excerpt_max", "%d..%d is not a range within [1, 8]", c.ExcerptMin, c.ExcerptMax)
	}
	if c.MaxChars < 400 || c.MaxChars > 100000 {
		bad("max_chars", "%d is outside [400, 100000]", c.MaxChars)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"abstain_rate", c.AbstainRate}, {"near_miss_rate", c.NearMissRate}, {"validation_fraction", c.ValidationFraction}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 1 {
			bad(f.name, "%v is outside [0, 1]", f.v)
		}
	}
	if c.ValidationFraction >= 1 {
		bad("validation_fraction", "must leave manuals for training")
	}
	return errors.Join(errs...)
}

// Corpus is a generated corpus held in memory.
type Corpus struct {
	Config     Config
	Train      []Example
	Validation []Example
	Golden     []GoldenItem
	// Manuals as plain text, one per split, manuals separated by "=== id ===" lines.
	TrainManuals, ValidationManuals, GoldenManuals string
	// TrainManualCount etc. count manuals per split.
	TrainManualCount, ValidationManualCount, GoldenManualCount int
	// HeldOutEntities are the manual-specific names of the golden manuals
	// (manual IDs, models, manufacturer/vendor/site name bases, including
	// vendors named only in golden questions); none occurs in train or validation text.
	HeldOutEntities []string
}

// manualCounts returns the number of validation and training manuals for cfg.
func (c Config) manualCounts() (validation, train int) {
	n := max(int(math.Round(baseManuals*c.Scale)), 2)
	validation = max(1, int(math.Round(float64(n)*c.ValidationFraction)))
	if validation >= n {
		validation = n - 1
	}
	return validation, n - validation
}

// Generate builds the corpus for cfg. progress, if not nil, is called as
// manuals are generated (done of total).
func Generate(cfg Config, progress func(done, total int)) (*Corpus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cats, tops := categories(), topics()
	vendors, sites := newNamePool(vendorHeads, vendorTails), newNamePool(siteHeads, siteTails)
	used := map[string]bool{}
	heldOut := &nameSource{heldOut: true, vendors: vendors, sites: sites, used: used}
	regular := &nameSource{vendors: vendors, sites: sites, used: used}

	nVal, nTrain := cfg.manualCounts()
	goldenManuals := (cfg.GoldenItems + 4) / 5
	total := goldenManuals + nVal + nTrain
	done := 0
	tick := func() {
		done++
		if progress != nil && (done%50 == 0 || done == total) {
			progress(done, total)
		}
	}
	c := &Corpus{Config: cfg}

	// Golden first, from its own recipe: it depends only on GoldenVersion
	// and GoldenItems, and its names are taken before any other manual's.
	gcfg := goldenRecipe(cfg.GoldenItems)
	var gtext strings.Builder
	entities := map[string]bool{}
	for i := 0; len(c.Golden) < gcfg.GoldenItems; i++ {
		m := newManual(gcfg.Seed, "golden", i, heldOut, cats, tops)
		r := newRNG(gcfg.Seed, "examples/golden", uint64(i))
		near, last := KindAbstainNearMiss, KindAbstain
		if i%2 == 1 {
			near, last = KindAbstain, KindAnswer
		}
		exs := manualExamples(r, m, tops, gcfg, []string{KindAnswer, KindAnswer, KindAnswer, near, last})
		for _, ex := range exs {
			if len(c.Golden) == gcfg.GoldenItems {
				break
			}
			c.Golden = append(c.Golden, goldenFromExample(ex, len(c.Golden)+1))
		}
		gtext.WriteString(m.text())
		for _, e := range m.entities {
			entities[e] = true
		}
		for _, v := range m.vendorPool {
			entities[vendorBase(v)] = true
		}
		c.GoldenManualCount++
		if i < goldenManuals {
			tick()
		}
	}
	c.GoldenManuals = gtext.String()
	for e := range entities {
		c.HeldOutEntities = append(c.HeldOutEntities, e)
	}
	slices.Sort(c.HeldOutEntities)

	gen := func(split string, n int) ([]Example, string) {
		var exs []Example
		var text strings.Builder
		kinds := make([]string, cfg.ExamplesPerManual)
		for i := 0; i < n; i++ {
			m := newManual(cfg.Seed, split, i, regular, cats, tops)
			r := newRNG(cfg.Seed, "examples/"+split, uint64(i))
			for j, ex := range manualExamples(r, m, tops, cfg, kinds) {
				ex.ID = fmt.Sprintf("%s-%s-%05d-%02d", CorpusVersion, split, i, j)
				exs = append(exs, ex)
			}
			text.WriteString(m.text())
			tick()
		}
		return exs, text.String()
	}
	c.Validation, c.ValidationManuals = gen("validation", nVal)
	c.Train, c.TrainManuals = gen("train", nTrain)
	c.ValidationManualCount, c.TrainManualCount = nVal, nTrain
	return c, nil
}

// vendorBase strips a vendor display name's company suffix.
func vendorBase(display string) string {
	for _, sfx := range vendorSuffixes[1:] {
		if base, ok := strings.CutSuffix(display, sfx); ok {
			return base
		}
	}
	return display
}

// TokenizerCorpus returns the text to train the tokenizer on: the training
// manuals followed by training prompts and completions up to the same size.
// It contains no validation or golden text.
func (c *Corpus) TokenizerCorpus() string {
	var b strings.Builder
	b.WriteString(c.TrainManuals)
	budget := len(c.TrainManuals)
	for _, ex := range c.Train {
		if budget <= 0 {
			break
		}
		b.WriteString(ex.Prompt)
		b.WriteString(ex.Completion)
		b.WriteString("\n")
		budget -= len(ex.Prompt) + len(ex.Completion) + 1
	}
	return b.String()
}
