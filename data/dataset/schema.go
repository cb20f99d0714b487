package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// SchemaVersion is the version of the row layout this package writes and reads.
const SchemaVersion = 1

// LogprobScale is the fixed-point scale of stored logprobs: codes are
// round(-logprob · LogprobScale), a step of 1/64 nat (error <= 1/128 nat).
const LogprobScale = 64

// maxLogprobCode bounds a cumulative logprob code (-16384 nats). Lower logprobs
// are clamped to it when written; a larger decoded value is corruption.
const maxLogprobCode = 1 << 20

// Bounds applied to untrusted metadata before anything is allocated from it.
const (
	MaxTopK        = 1024
	MaxHiddenDim   = 1 << 16
	MaxHiddenLayer = 1024
	MaxVocab       = 1 << 24
	maxRowTokens   = 1 << 24
)

// Row is one Parquet row of schema v1, exactly as stored. Most callers use
// Record (decoded signals) instead; the loader reads Rows and decodes the
// packed columns straight into batches.
type Row struct {
	ID         string  `parquet:"id,zstd"`
	Split      string  `parquet:"split,dict,zstd"`
	Source     string  `parquet:"source,dict,zstd"`
	Teacher    string  `parquet:"teacher,dict,zstd"`
	Prompt     string  `parquet:"prompt,zstd"`
	Completion string  `parquet:"completion,zstd"`
	Tokens     []int32 `parquet:"tokens,list,zstd"`
	PromptLen  int32   `parquet:"prompt_len,zstd"`
	// Packed teacher top-k, one plane per column so zstd models each alone.
	TopKTail     []byte `parquet:"topk_tail,zstd"`
	TopKIDsLo    []byte `parquet:"topk_ids_lo,zstd"`
	TopKIDsHi    []byte `parquet:"topk_ids_hi,zstd"`
	TopKLogprobs []byte `parquet:"topk_logprobs,zstd"`
	// Tail mass tempered at Meta.TailTemperature; empty when the dataset
	// has none. Optional: shards written before it lack the column.
	TopKTailTempered []byte `parquet:"topk_tail_tempered,zstd"`
	Hidden           []byte `parquet:"hidden,zstd"`
	Provenance       string `parquet:"provenance,zstd"`
}

// optionalColumns may be missing from a shard (written before they existed);
// rows then read them as empty.
var optionalColumns = map[string]bool{"topk_tail_tempered": true}

// Schema is the Parquet schema of v1 shards.
var schemaV1 = parquet.SchemaOf(Row{})

// expectedColumns lists the leaf columns of schema v1 (path, physical type).
var expectedColumns = func() []columnSpec {
	var cols []columnSpec
	for _, path := range schemaV1.Columns() {
		leaf, _ := schemaV1.Lookup(path...)
		cols = append(cols, columnSpec{path: strings.Join(path, "."), kind: leaf.Node.Type().Kind()})
	}
	return cols
}()

type columnSpec struct {
	path string
	kind parquet.Kind
}

// checkSchema reports every way a file schema differs from v1, naming columns.
func checkSchema(s *parquet.Schema) []string {
	var probs []string
	have := map[string]parquet.Kind{}
	for _, path := range s.Columns() {
		leaf, ok := s.Lookup(path...)
		if !ok {
			continue
		}
		have[strings.Join(path, ".")] = leaf.Node.Type().Kind()
	}
	for _, c := range expectedColumns {
		k, ok := have[c.path]
		if !ok {
			if !optionalColumns[c.path] {
				probs = append(probs, fmt.Sprintf("column %s: missing", c.path))
			}
			continue
		}
		if k != c.kind {
			probs = append(probs, fmt.Sprintf("column %s: type %v, want %v", c.path, k, c.kind))
		}
		delete(have, c.path)
	}
	for p := range have {
		probs = append(probs, fmt.Sprintf("column %s: not in schema v%d", p, SchemaVersion))
	}
	return probs
}

// Meta describes a whole dataset; it is stored in manifest.json and as the
// key-value metadata of every shard.
type Meta struct {
	SchemaVersion   int               `json:"schema_version"`
	TokenizerHash   string            `json:"tokenizer_hash"`
	VocabSize       int               `json:"vocab_size"`
	Teacher         string            `json:"teacher"`
	Temperature     float64           `json:"temperature"`
	TeacherSettings map[string]string `json:"teacher_settings,omitempty"` // other request settings (top_p, endpoint, ...)
	PolicyHash      string            `json:"policy_hash"`
	WriterVersion   string            `json:"writer_version"`
	TopK            int               `json:"topk"`                    // K; 0 for text-only datasets
	HiddenLayers    []int             `json:"hidden_layers,omitempty"` // teacher layer indices, empty for none
	HiddenDim       int               `json:"hidden_dim,omitempty"`
	LogprobScale    int               `json:"logprob_scale"`
	// TailTemperature is the KD temperature T at which every teacher row
	// stores its tempered tail (column topk_tail_tempered): the tail mass of
	// the stored distribution p tempered at T, Σ_{j∉top-K} p_j^{1/T} / Σ_j p_j^{1/T}.
	// 0 when the dataset stores none (remote teachers cannot provide it).
	TailTemperature float64 `json:"tail_temperature,omitempty"`
}

// MaxTailTemperature bounds Meta.TailTemperature (as loss temperatures are bounded).
const MaxTailTemperature = 100

// Validate checks Meta once, at the edge (writer creation, reader open).
func (m *Meta) Validate() error {
	var errs []error
	if m.SchemaVersion != SchemaVersion {
		errs = append(errs, fmt.Errorf("schema_version %d, this build reads %d", m.SchemaVersion, SchemaVersion))
	}
	if m.VocabSize <= 0 || m.VocabSize > MaxVocab {
		errs = append(errs, fmt.Errorf("vocab_size %d outside [1, %d]", m.VocabSize, MaxVocab))
	}
	if m.TokenizerHash == "" {
		errs = append(errs, errors.New("tokenizer_hash is empty"))
	}
	if m.TopK < 0 || m.TopK > MaxTopK {
		errs = append(errs, fmt.Errorf("topk %d outside [0, %d]", m.TopK, MaxTopK))
	}
	if m.LogprobScale != LogprobScale {
		errs = append(errs, fmt.Errorf("logprob_scale %d, schema v1 uses %d", m.LogprobScale, LogprobScale))
	}
	if len(m.HiddenLayers) > MaxHiddenLayer {
		errs = append(errs, fmt.Errorf("%d hidden layers, at most %d", len(m.HiddenLayers), MaxHiddenLayer))
	}
	if len(m.HiddenLayers) > 0 && (m.HiddenDim <= 0 || m.HiddenDim > MaxHiddenDim) {
		errs = append(errs, fmt.Errorf("hidden_dim %d outside [1, %d]", m.HiddenDim, MaxHiddenDim))
	}
	if len(m.HiddenLayers) == 0 && m.HiddenDim != 0 {
		errs = append(errs, fmt.Errorf("hidden_dim %d without hidden_layers", m.HiddenDim))
	}
	for i, l := range m.HiddenLayers {
		if l < 0 {
			errs = append(errs, fmt.Errorf("hidden_layers[%d] = %d is negative", i, l))
		}
	}
	if m.Temperature < 0 {
		errs = append(errs, fmt.Errorf("temperature %g is negative", m.Temperature))
	}
	if !(m.TailTemperature >= 0 && m.TailTemperature <= MaxTailTemperature) {
		errs = append(errs, fmt.Errorf("tail_temperature %g outside [0, %d] (0: no tempered tail)", m.TailTemperature, MaxTailTemperature))
	}
	if m.TailTemperature > 0 && m.TopK == 0 {
		errs = append(errs, fmt.Errorf("tail_temperature %g without top-k (topk 0)", m.TailTemperature))
	}
	if len(errs) > 0 {
		return fmt.Errorf("dataset meta: %w", errors.Join(errs...))
	}
	return nil
}

// The three ways two Metas are compared, each including the ones before it.
const (
	// agreeRows: what the stored rows mean (tokenizer, vocabulary, K,
	// hidden layers, the stored form).
	agreeRows = iota
	// agreeSource: also who produced the rows and under which rules.
	agreeSource
	// agreeAll: every field, also the writer and the request settings.
	agreeAll
)

// metaFields lists the fields of Meta by their manifest key, each with the
// weakest comparison it belongs to and its value as compared text.
var metaFields = []struct {
	key   string
	level int
	value func(*Meta) string
}{
	{"schema_version", agreeRows, func(m *Meta) string { return strconv.Itoa(m.SchemaVersion) }},
	{"tokenizer_hash", agreeRows, func(m *Meta) string { return strconv.Quote(m.TokenizerHash) }},
	{"vocab_size", agreeRows, func(m *Meta) string { return strconv.Itoa(m.VocabSize) }},
	{"topk", agreeRows, func(m *Meta) string { return strconv.Itoa(m.TopK) }},
	{"hidden_layers", agreeRows, func(m *Meta) string { return fmt.Sprint(m.HiddenLayers) }},
	{"hidden_dim", agreeRows, func(m *Meta) string { return strconv.Itoa(m.HiddenDim) }},
	{"logprob_scale", agreeRows, func(m *Meta) string { return strconv.Itoa(m.LogprobScale) }},
	{"tail_temperature", agreeRows, func(m *Meta) string { return fmt.Sprint(m.TailTemperature) }},
	{"teacher", agreeSource, func(m *Meta) string { return strconv.Quote(m.Teacher) }},
	{"temperature", agreeSource, func(m *Meta) string { return fmt.Sprint(m.Temperature) }},
	{"policy_hash", agreeSource, func(m *Meta) string { return strconv.Quote(m.PolicyHash) }},
	{"writer_version", agreeAll, func(m *Meta) string { return strconv.Quote(m.WriterVersion) }},
}

// differences lists, by manifest key, the fields up to level in which m and
// o differ ("topk 4 vs 5"); teacher settings are compared key by key.
func (m *Meta) differences(o *Meta, level int) []string {
	var d []string
	for _, f := range metaFields {
		if f.level > level {
			continue
		}
		if a, b := f.value(m), f.value(o); a != b {
			d = append(d, fmt.Sprintf("%s %s vs %s", f.key, a, b))
		}
	}
	if level >= agreeAll {
		keys := map[string]bool{}
		for k := range m.TeacherSettings {
			keys[k] = true
		}
		for k := range o.TeacherSettings {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			a, aok := m.TeacherSettings[k]
			b, bok := o.TeacherSettings[k]
			if a != b || aok != bok {
				d = append(d, fmt.Sprintf("teacher_settings.%s %s vs %s", k, settingText(a, aok), settingText(b, bok)))
			}
		}
	}
	return d
}

func settingText(v string, ok bool) string {
	if !ok {
		return "(unset)"
	}
	const maxShown = 200 // the policy setting holds a whole policy file
	if len(v) > maxShown {
		return strconv.Quote(v[:maxShown]) + "..."
	}
	return strconv.Quote(v)
}

func metaMismatch(what string, d []string) error {
	if len(d) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", what, strings.Join(d, "; "))
}

// Compatible reports how two Metas disagree on anything that changes what
// rows mean (used when the manifest is checked against shards).
func (m *Meta) Compatible(o *Meta) error {
	return metaMismatch("incompatible dataset metadata", m.differences(o, agreeRows))
}

// SameSource reports how two Metas disagree on what rows mean or on who
// produced them (teacher, temperature, policy): datasets that agree may be
// merged.
func (m *Meta) SameSource(o *Meta) error {
	return metaMismatch("incompatible dataset metadata", m.differences(o, agreeSource))
}

// Equal reports every field in which two Metas differ, teacher settings
// and writer version included: datasets written by one collection run agree.
func (m *Meta) Equal(o *Meta) error {
	return metaMismatch("dataset metadata differs", m.differences(o, agreeAll))
}

// Parquet key-value metadata keys.
const (
	keySchemaVersion   = "distill.schema_version"
	keyTokenizerHash   = "distill.tokenizer_hash"
	keyVocabSize       = "distill.vocab_size"
	keyTeacher         = "distill.teacher"
	keyTeacherSettings = "distill.teacher_settings"
	keyPolicyHash      = "distill.policy_hash"
	keyWriterVersion   = "distill.writer_version"
	keyTopK            = "distill.topk"
	keyHiddenLayers    = "distill.hidden_layers"
	keyHiddenDim       = "distill.hidden_dim"
	keyLogprobScale    = "distill.logprob_scale"
	// keyTailTemperature is written only when the dataset stores a tempered
	// tail; shards without it have none.
	keyTailTemperature = "distill.tail_temperature"
)

type teacherSettings struct {
	Temperature float64           `json:"temperature"`
	Params      map[string]string `json:"params,omitempty"`
}

// keyValues renders Meta as Parquet key-value metadata.
func (m *Meta) keyValues() [][2]string {
	ts, _ := json.Marshal(teacherSettings{m.Temperature, m.TeacherSettings})
	hl, _ := json.Marshal(m.HiddenLayers)
	if m.HiddenLayers == nil {
		hl = []byte("[]")
	}
	kv := [][2]string{
		{keySchemaVersion, strconv.Itoa(m.SchemaVersion)},
		{keyTokenizerHash, m.TokenizerHash},
		{keyVocabSize, strconv.Itoa(m.VocabSize)},
		{keyTeacher, m.Teacher},
		{keyTeacherSettings, string(ts)},
		{keyPolicyHash, m.PolicyHash},
		{keyWriterVersion, m.WriterVersion},
		{keyTopK, strconv.Itoa(m.TopK)},
		{keyHiddenLayers, string(hl)},
		{keyHiddenDim, strconv.Itoa(m.HiddenDim)},
		{keyLogprobScale, strconv.Itoa(m.LogprobScale)},
	}
	if m.TailTemperature > 0 {
		kv = append(kv, [2]string{keyTailTemperature, strconv.FormatFloat(m.TailTemperature, 'g', -1, 64)})
	}
	return kv
}

// metaFromLookup parses Meta from key-value metadata; every problem names its key.
func metaFromLookup(lookup func(string) (string, bool)) (Meta, error) {
	var m Meta
	var errs []error
	get := func(k string) string {
		v, ok := lookup(k)
		if !ok {
			errs = append(errs, fmt.Errorf("metadata key %s: missing", k))
		}
		return v
	}
	atoi := func(k string) int {
		s := get(k)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata key %s: %q is not an integer", k, s))
		}
		return n
	}
	sv, ok := lookup(keySchemaVersion)
	if !ok {
		return m, fmt.Errorf("metadata key %s: missing (not a distill dataset shard)", keySchemaVersion)
	}
	v, err := strconv.Atoi(sv)
	if err != nil || v != SchemaVersion {
		return m, fmt.Errorf("metadata key %s: version %q, this build reads %d", keySchemaVersion, sv, SchemaVersion)
	}
	m.SchemaVersion = v
	m.TokenizerHash = get(keyTokenizerHash)
	m.VocabSize = atoi(keyVocabSize)
	m.Teacher = get(keyTeacher)
	if s := get(keyTeacherSettings); s != "" {
		var ts teacherSettings
		if err := json.Unmarshal([]byte(s), &ts); err != nil {
			errs = append(errs, fmt.Errorf("metadata key %s: %v", keyTeacherSettings, err))
		}
		m.Temperature, m.TeacherSettings = ts.Temperature, ts.Params
	}
	m.PolicyHash = get(keyPolicyHash)
	m.WriterVersion = get(keyWriterVersion)
	m.TopK = atoi(keyTopK)
	if s := get(keyHiddenLayers); s != "" {
		if len(s) > 16*MaxHiddenLayer {
			errs = append(errs, fmt.Errorf("metadata key %s: %d bytes, too long", keyHiddenLayers, len(s)))
		} else if err := json.Unmarshal([]byte(s), &m.HiddenLayers); err != nil {
			errs = append(errs, fmt.Errorf("metadata key %s: %v", keyHiddenLayers, err))
		}
		if len(m.HiddenLayers) == 0 {
			m.HiddenLayers = nil
		}
	}
	m.HiddenDim = atoi(keyHiddenDim)
	m.LogprobScale = atoi(keyLogprobScale)
	if s, ok := lookup(keyTailTemperature); ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0) {
			errs = append(errs, fmt.Errorf("metadata key %s: %q is not a temperature > 0", keyTailTemperature, s))
		}
		m.TailTemperature = f
	}
	if len(errs) > 0 {
		return m, errors.Join(errs...)
	}
	if err := m.Validate(); err != nil {
		return m, err
	}
	return m, nil
}

// RowID is the stable id of a sequence with a prompt: the first 16 bytes of
// sha256(source || 0x00 || prompt), in hex. Rows without a prompt are
// identified by their text (RecordID).
func RowID(source, prompt string) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(prompt))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// RecordID is the id of a stored row: RowID(source, prompt) when the row
// has a prompt; a text row (empty prompt, every token a target) is
// identified by its text: the first 16 bytes of
// sha256(source || 0x00 || 0x00 || "text" || 0x00 || completion), in hex.
func RecordID(source, prompt, completion string) string {
	if prompt != "" {
		return RowID(source, prompt)
	}
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0, 0})
	h.Write([]byte("text"))
	h.Write([]byte{0})
	h.Write([]byte(completion))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// idMatches reports whether id is the id of a row: RecordID, or for a text
// row also RowID(source, "") (written by imports before text rows were
// identified by their text).
func idMatches(id, source, prompt, completion string) bool {
	return id == RecordID(source, prompt, completion) || prompt == "" && id == RowID(source, "")
}
