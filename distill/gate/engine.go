package gate

import "time"

// Engine loads artifacts for measurement. The production engine wraps
// distill's runtime (model/infer); tests use a scripted one.
type Engine interface {
	Load(path string) (Model, error)
}

// Model is a loaded artifact.
type Model interface {
	// Tokenize encodes text as the artifact is fed it: its own tokenizer,
	// after BOS when the artifact asks for BOS (tokenizer.ggml.add_bos_token).
	Tokenize(text string) []int32
	// TokenizerHash identifies the tokenizer; teacher agreement needs equal hashes.
	TokenizerHash() string
	// Generate decodes greedily from prompt for at most maxNew tokens, stopping at
	// end-of-sequence (unless ignoreEOS: the sustained run measures decoding,
	// not answer length) or when the text produced so far contains a stop string.
	// onToken is called as each token is produced (so the caller can time it);
	// returning false stops generation. It returns the generated text.
	Generate(prompt []int32, maxNew int, stop []string, ignoreEOS bool, onToken func(id int32) bool) (string, error)
	// LogProbs returns, for each position p in [from, len(tokens)-1), the
	// log-softmax over the vocabulary of the prediction of tokens[p+1]:
	// [len(tokens)-1-from][vocab].
	LogProbs(tokens []int32, from int) ([][]float32, error)
	// KVCacheBytes is the KV-cache size at a context length.
	KVCacheBytes(context int) int64
	Close() error
}

// Clock abstracts time so that tests can script latencies.
type Clock interface {
	Now() time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// WallClock is the real clock.
var WallClock Clock = wallClock{}

// Item is one golden question, engine-agnostic.
type Item struct {
	ID         string
	Prompt     string // already in the production prompt template
	Completion string // the expected completion (for perplexity and teacher agreement)
	// Score grades a generated answer.
	Score func(output string) Grade
	Stop  []string
}

// Grade is one answer's grade: the exact verdict, which is the launch bar,
// and partial credit with its components, which show progress below it.
type Grade struct {
	Correct bool   `json:"correct"`
	Reason  string `json:"reason,omitempty"` // why not correct
	// Partial is the item's partial credit in [0,1] (the scorer defines it;
	// synth.Result.Partial for the policy golden set).
	Partial float64 `json:"partial"`
	// Answerable: the golden item has an answer; false when the right output
	// is an abstention.
	Answerable bool `json:"answerable"`
	// FactFraction is the fraction of the item's key facts stated (1 when it has none).
	FactFraction      float64 `json:"fact_fraction"`
	CitationCorrect   bool    `json:"citation_correct"`
	AbstentionCorrect bool    `json:"abstention_correct"`
}
