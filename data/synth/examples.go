package synth

import (
	"fmt"
	"sort"
	"strings"
)

// Prompt format. Every prompt is
//
//	Policy <manual id> rev <r> (<maker> <model> <equipment>)
//	§<s>.<p> <paragraph text>
//	... (2-5 paragraphs of the manual, in manual order)
//	Question: <question>
//	Answer:
//
// and its completion is CompletionPrefix + answer + StopSequence, where the
// answer either ends with the citation of the one paragraph that states the
// fact, " [§3.2].", or is exactly AbstainAnswer.
const (
	// PromptTemplate documents the prompt layout; {excerpt} is the header
	// line followed by one line per paragraph.
	PromptTemplate = "{excerpt}\nQuestion: {question}\nAnswer:"
	// CompletionPrefix starts every completion (the space after "Answer:").
	CompletionPrefix = " "
	// StopSequence ends every completion; the runtime stops generating there
	// (or at EOS, whichever comes first).
	StopSequence = "\n"
	// AbstainAnswer is the answer when the excerpt does not cover the question.
	AbstainAnswer = "Not covered by the policy."
)

// FormatPrompt builds a prompt from an excerpt (header line and paragraph
// lines, without a trailing newline) and a question, following PromptTemplate.
func FormatPrompt(excerpt, question string) string {
	return excerpt + "\nQuestion: " + question + "\nAnswer:"
}

// FormatCompletion builds the training completion for an answer text.
func FormatCompletion(answer string) string {
	return CompletionPrefix + answer + StopSequence
}

// Citation formats a paragraph citation as it appears at the end of answers.
func Citation(paragraphID string) string { return "[" + paragraphID + "]" }

// withCitation turns "Replace X after N." into "Replace X after N [§3.2]."
func withCitation(answer, paragraphID string) string {
	return strings.TrimSuffix(answer, ".") + " " + Citation(paragraphID) + "."
}

// Kinds of question.
const (
	KindAnswer          = "answer"            // the excerpt answers it
	KindAbstain         = "abstain"           // the manual does not cover the topic
	KindAbstainNearMiss = "abstain_near_miss" // the excerpt covers the same topic for another subject
)

// Example is one training or validation record (one line of train.jsonl or
// validation.jsonl).
type Example struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	Split      string   `json:"split"`
	ManualID   string   `json:"manual_id"`
	Topic      string   `json:"topic"`
	Kind       string   `json:"kind"`
	Question   string   `json:"question"`
	Prompt     string   `json:"prompt"`
	Completion string   `json:"completion"`
	Answer     string   `json:"answer"`
	KeyFacts   []string `json:"key_facts"`
	Citation   string   `json:"citation"`
	Abstain    bool     `json:"abstain"`
}

// question is a drawn question before its excerpt is chosen.
type question struct {
	kind     string
	topic    *topicDef
	ask      ask
	target   *paragraph // answering paragraph; nil for abstentions
	related  *paragraph // same topic, other subject (near misses)
	text     string
	answer   string // without citation
	keys     []string
	citation string
}

// askable lists every (paragraph, ask) pair of a manual.
type pair struct {
	p *paragraph
	a ask
}

func (m *manual) pairs() []pair {
	var ps []pair
	for _, p := range m.paras {
		if p.topic == nil {
			continue
		}
		for _, a := range p.topic.asks {
			ps = append(ps, pair{p, a})
		}
	}
	return ps
}

// phrase renders a question template, sometimes with a lead-in, so the same
// question appears in several wordings.
func phrase(r *rng, tmpl string, v vals) string {
	q := render(tmpl, v)
	if r.chance(0.2) {
		lead := pick(r, []string{"Per the policy, ", "According to this policy, ", "For the {model}, ", "Quick check: ", "On the night shift: "})
		q = render(lead, v) + decapitalize(q)
	}
	return q
}

// answerQuestion draws an answerable question from pair pr.
func answerQuestion(r *rng, pr pair) question {
	q := question{kind: KindAnswer, topic: pr.p.topic, ask: pr.a, target: pr.p, citation: pr.p.id}
	q.text = phrase(r, pick(r, pr.a.questions), pr.p.v)
	q.answer = render(pr.a.answer, pr.p.v)
	for _, k := range pr.a.keys {
		q.keys = append(q.keys, render(k, pr.p.v))
	}
	return q
}

// abstainQuestion draws a question the manual does not answer. With
// nearMiss it prefers a topic the manual covers for another subject (another
// part, vendor or symptom), whose paragraph then appears in the excerpt.
func abstainQuestion(r *rng, m *manual, tops []*topicDef, nearMiss bool) (question, bool) {
	type option struct {
		t       *topicDef
		subject string
		related *paragraph
	}
	var near, far []option
	for _, t := range tops {
		if !t.applies(m.cat) {
			continue
		}
		if t.subjectKey == "" {
			if !m.hasFact(t, "") {
				far = append(far, option{t: t})
			}
			continue
		}
		var rel *paragraph
		for _, p := range m.paras {
			if p.topic == t {
				rel = p
				break
			}
		}
		for _, s := range t.subjects(m) {
			if m.hasFact(t, s) || (t.subjectKey == "vendor" && m.mentioned[s]) {
				continue
			}
			if rel != nil {
				near = append(near, option{t, s, rel})
			} else {
				far = append(far, option{t: t, subject: s})
			}
		}
	}
	opts := far
	if nearMiss && len(near) > 0 || len(far) == 0 {
		opts = near
	}
	if len(opts) == 0 {
		return question{}, false
	}
	o := pick(r, opts)
	v := factVals(r, m, o.t, m.context(), o.subject)
	a := pick(r, o.t.asks)
	q := question{kind: KindAbstain, topic: o.t, ask: a, related: o.related, answer: AbstainAnswer}
	if o.related != nil {
		q.kind = KindAbstainNearMiss
	}
	q.text = phrase(r, pick(r, a.questions), v)
	return q, true
}

// buildExample picks ExcerptMin..ExcerptMax paragraphs around a question (the
// answering or near-miss paragraph, often others of the same topic or section,
// then random ones) and renders the prompt and
// completion, dropping distractors until prompt+completion fit maxChars.
func buildExample(r *rng, m *manual, q question, cfg Config) (prompt, completion string) {
	k := cfg.ExcerptMin + r.intn(cfg.ExcerptMax-cfg.ExcerptMin+1)
	chosen := map[*paragraph]bool{}
	var picked []*paragraph
	add := func(p *paragraph) {
		if p != nil && !chosen[p] && len(picked) < k {
			chosen[p] = true
			picked = append(picked, p)
		}
	}
	add(q.target)
	add(q.related)
	// Prefer paragraphs of the same topic or section as distractors half the time.
	if r.chance(0.5) {
		var same []*paragraph
		for _, p := range m.paras {
			if p.topic != nil && (p.topic == q.topic || p.topic.group == q.topic.group) {
				same = append(same, p)
			}
		}
		shuffle(r, same)
		for _, p := range same[:min(len(same), 1+r.intn(2))] {
			add(p)
		}
	}
	others := append([]*paragraph(nil), m.paras...)
	shuffle(r, others)
	for _, p := range others {
		add(p)
	}
	answer := q.answer
	if q.target != nil {
		answer = withCitation(q.answer, q.citation)
	}
	completion = FormatCompletion(answer)
	for {
		ps := append([]*paragraph(nil), picked...)
		sort.Slice(ps, func(i, j int) bool { return ps[i].order < ps[j].order })
		var b strings.Builder
		b.WriteString(m.header())
		for _, p := range ps {
			fmt.Fprintf(&b, "\n%s %s", p.id, p.text)
		}
		prompt = FormatPrompt(b.String(), q.text)
		if len(prompt)+len(completion) <= cfg.MaxChars || len(picked) <= 1 {
			return prompt, completion
		}
		// Drop the last-added distractor (never the target or near-miss paragraph).
		for i := len(picked) - 1; i >= 0; i-- {
			if picked[i] != q.target && picked[i] != q.related {
				picked = append(picked[:i], picked[i+1:]...)
				break
			}
			if i == 0 {
				return prompt, completion
			}
		}
	}
}

// manualExamples draws n examples from manual m; kinds[i] gives the kind of
// the i-th ("" = decide by cfg.AbstainRate).
func manualExamples(r *rng, m *manual, tops []*topicDef, cfg Config, kinds []string) []Example {
	pairs := m.pairs()
	shuffle(r, pairs)
	var out []Example
	prompts := map[string]bool{} // prompts are unique (the manual ID makes them unique corpus-wide)
	for _, kind := range kinds {
		ex, ok := Example{}, false
		for attempt := 0; attempt < 4 && !ok; attempt++ {
			ex, ok = drawExample(r, m, tops, cfg, kind, &pairs)
			ok = ok && !prompts[ex.Prompt]
		}
		if ok {
			prompts[ex.Prompt] = true
			out = append(out, ex)
		}
	}
	return out
}

// drawExample draws one example of kind ("" = by cfg.AbstainRate), taking
// answerable (paragraph, ask) pairs from *pairs without replacement.
func drawExample(r *rng, m *manual, tops []*topicDef, cfg Config, kind string, pairs *[]pair) (Example, bool) {
	if kind == "" {
		kind = KindAnswer
		if r.chance(cfg.AbstainRate) {
			kind = KindAbstain
			if r.chance(cfg.NearMissRate) {
				kind = KindAbstainNearMiss
			}
		}
	}
	var q question
	if kind == KindAnswer {
		if len(*pairs) == 0 {
			*pairs = m.pairs()
			shuffle(r, *pairs)
		}
		q = answerQuestion(r, (*pairs)[0])
		*pairs = (*pairs)[1:]
	} else {
		var ok bool
		if q, ok = abstainQuestion(r, m, tops, kind == KindAbstainNearMiss); !ok {
			return Example{}, false
		}
	}
	prompt, completion := buildExample(r, m, q, cfg)
	ex := Example{
		Source: Source, Split: m.split, ManualID: m.id, Topic: q.topic.name + "/" + q.ask.name, Kind: q.kind,
		Question: q.text, Prompt: prompt, Completion: completion, Answer: strings.TrimSpace(completion),
		KeyFacts: q.keys, Citation: q.citation, Abstain: q.target == nil,
	}
	if ex.KeyFacts == nil {
		ex.KeyFacts = []string{}
	}
	return ex, true
}
