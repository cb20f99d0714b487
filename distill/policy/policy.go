// Package policy enforces what distill may send to which teacher and which
// teacher signals it may store. A policy is a YAML file: per data class
// (e.g. public, internal, sensitive) it lists the teachers that may receive
// rows of that class, the signals that may be stored (text, logprobs,
// hidden_states), and it holds redaction rules (regular expressions with a
// replacement) applied to every prompt before it leaves the process.
// Teachers are declared with whether they are remote (network) or local, and
// whether their terms restrict training on their outputs, which a collection
// config must acknowledge explicitly.
//
// The decision functions fail closed: an unknown class, an unknown teacher or
// an unlisted signal is refused. The policy's sha256 (of its canonical JSON
// form) goes into dataset metadata so the trainer can refuse data that the
// current policy forbids.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/distill-ml/distill/configs"
)

// Signal is a kind of teacher output that may be stored.
type Signal string

// The signals a dataset row can carry.
const (
	SignalText     Signal = "text"
	SignalLogprobs Signal = "logprobs"
	SignalHidden   Signal = "hidden_states"
)

var knownSignals = map[Signal]bool{SignalText: true, SignalLogprobs: true, SignalHidden: true}

// Teacher describes a teacher the policy knows about.
type Teacher struct {
	Remote bool `yaml:"remote" json:"remote"` // sends data over the network
	// RestrictsTraining: the teacher's terms restrict training on its outputs;
	// collection refuses unless the collection config acknowledges it.
	RestrictsTraining bool   `yaml:"restricts_training" json:"restricts_training"`
	Terms             string `yaml:"terms" json:"terms"` // where the terms are, for the acknowledgement message
}

// Class is the rule set for one data class.
type Class struct {
	Teachers []string `yaml:"teachers" json:"teachers"` // teachers that may receive rows of this class
	Store    []Signal `yaml:"store" json:"store"`       // signals that may be stored
	// LocalOnly refuses every remote teacher for this class, whatever Teachers says.
	LocalOnly bool `yaml:"local_only" json:"local_only"`
}

// Redaction replaces every match of Pattern with Replace before a prompt
// leaves the process.
type Redaction struct {
	Name    string `yaml:"name" json:"name"`
	Pattern string `yaml:"pattern" json:"pattern"`
	Replace string `yaml:"replace" json:"replace"`
}

// Policy is the decoded policy file.
type Policy struct {
	Version    int                `yaml:"version" json:"version"`
	Teachers   map[string]Teacher `yaml:"teachers" json:"teachers"`
	Classes    map[string]Class   `yaml:"classes" json:"classes"`
	Redactions []Redaction        `yaml:"redactions" json:"redactions"`

	compiled []*regexp.Regexp
}

// DefaultRedactions are the redaction rules of configs/policy-default.yaml
// (a test keeps the two equal), exported so configs and docs can show them:
// emails (also with a full-width ＠ and "[at]"/"(at)", "[dot]"/"(dot)"),
// phone numbers (international with +, US "(415) 555-0199", "415-555-0123",
// "415.555.0123") and equipment serial numbers ("S/N: AB-12345",
// "sn: ab-123456", "serial number XK-99812").
//
// Redaction is best-effort: patterns cannot recognise every way a person
// writes an address or a number (spelled-out digits, "dave at example dot
// com", names). What a policy guarantees is the class rules: a row of a
// local_only class never reaches a remote teacher, whatever its text.
var DefaultRedactions = []Redaction{
	{Name: "email", Pattern: `[A-Za-z0-9._%+-]+(?:@|＠|﹫|\s*[\[(]\s*(?i:at)\s*[\])]\s*)(?:[A-Za-z0-9-]+(?:\.|．|\s*[\[(]\s*(?i:dot)\s*[\])]\s*))+[A-Za-z]{2,}`, Replace: "[EMAIL]"},
	{Name: "phone", Pattern: `\+\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b|\(\d{3}\) ?\d{3}[-.]\d{4}\b|\b\d{3}[-.]\d{3}[-.]\d{4}\b`, Replace: "[PHONE]"},
	{Name: "serial", Pattern: `\b(?i:s/n|sn|serial(?: ?(?:no\.?|number|#))?)(?:\s*[:#-]\s*|\s+)[A-Za-z0-9]{2,}-?[A-Za-z0-9]*\d[A-Za-z0-9]*\b`, Replace: "[SERIAL]"},
}

// Load reads and validates a policy file.
func Load(path string) (*Policy, error) {
	var p Policy
	if err := configs.Load(path, &p); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return &p, nil
}

// Validate checks the policy and compiles its redaction rules.
func (p *Policy) Validate() error {
	var errs []error
	if p.Version != 1 {
		errs = append(errs, fmt.Errorf("version: %d, want 1", p.Version))
	}
	if len(p.Classes) == 0 {
		errs = append(errs, errors.New("classes: none defined"))
	}
	for _, name := range slices.Sorted(maps.Keys(p.Classes)) {
		c := p.Classes[name]
		for _, t := range c.Teachers {
			if _, ok := p.Teachers[t]; !ok {
				errs = append(errs, fmt.Errorf("classes.%s.teachers: unknown teacher %q (declare it under teachers)", name, t))
			}
		}
		for _, s := range c.Store {
			if !knownSignals[s] {
				errs = append(errs, fmt.Errorf("classes.%s.store: unknown signal %q (want text, logprobs or hidden_states)", name, s))
			}
		}
	}
	p.compiled = p.compiled[:0]
	for i, r := range p.Redactions {
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("redactions[%d] (%s): %w", i, r.Name, err))
			continue
		}
		if re.MatchString("") {
			errs = append(errs, fmt.Errorf("redactions[%d] (%s): pattern matches the empty string", i, r.Name))
			continue
		}
		p.compiled = append(p.compiled, re)
	}
	return errors.Join(errs...)
}

// Refusal is returned when the policy forbids an action.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "refused by policy: " + r.Reason }

// class is the policy's class name; an unknown one is refused (fail closed).
func (p *Policy) class(name string) (Class, error) {
	c, ok := p.Classes[name]
	if !ok {
		return Class{}, &Refusal{fmt.Sprintf("data class %q is not in the policy", name)}
	}
	return c, nil
}

// teacher is the policy's teacher name; an unknown one is refused (fail closed).
func (p *Policy) teacher(name string) (Teacher, error) {
	t, ok := p.Teachers[name]
	if !ok {
		return Teacher{}, &Refusal{fmt.Sprintf("teacher %q is not in the policy", name)}
	}
	return t, nil
}

// CheckSend decides whether a row of class may be sent to teacher.
// Call it before any network I/O.
func (p *Policy) CheckSend(class, teacher string) error {
	c, err := p.class(class)
	if err != nil {
		return err
	}
	t, err := p.teacher(teacher)
	if err != nil {
		return err
	}
	if t.Remote && c.LocalOnly {
		return &Refusal{fmt.Sprintf("class %q is local-only and teacher %q is remote", class, teacher)}
	}
	if slices.Contains(c.Teachers, teacher) {
		return nil
	}
	return &Refusal{fmt.Sprintf("teacher %q may not receive class %q", teacher, class)}
}

// CheckStore decides whether signal may be stored for rows of class.
func (p *Policy) CheckStore(class string, s Signal) error {
	c, err := p.class(class)
	if err != nil {
		return err
	}
	if slices.Contains(c.Store, s) {
		return nil
	}
	return &Refusal{fmt.Sprintf("signal %q may not be stored for class %q", s, class)}
}

// CheckTerms refuses a teacher whose terms restrict training on its outputs
// unless acknowledged is true.
func (p *Policy) CheckTerms(teacher string, acknowledged bool) error {
	t, err := p.teacher(teacher)
	if err != nil {
		return err
	}
	if t.RestrictsTraining && !acknowledged {
		where := ""
		if t.Terms != "" {
			where = " (" + t.Terms + ")"
		}
		return &Refusal{fmt.Sprintf("teacher %q restricts training on its outputs%s; set acknowledge_terms: true in the collection config after review", teacher, where)}
	}
	return nil
}

// Redact applies every redaction rule in order and returns the result and
// the number of replacements.
func (p *Policy) Redact(text string) (string, int) {
	n := 0
	for i, re := range p.compiled {
		repl := p.Redactions[i].Replace
		text = re.ReplaceAllStringFunc(text, func(string) string { n++; return repl })
	}
	return text, n
}

// Hash is "sha256:<hex>" of the policy's canonical JSON form: two files that
// say the same thing (key order, comments, whitespace aside) hash the same.
func (p *Policy) Hash() string {
	sum := sha256.Sum256(p.Canonical())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Canonical is the policy's canonical JSON form (what Hash hashes), stored
// in dataset metadata next to the hash.
func (p *Policy) Canonical() []byte {
	b, _ := json.Marshal(p) // maps marshal with sorted keys
	return b
}

// CheckRow decides whether a stored dataset row may be used under this
// policy: provenance is the row's provenance JSON, whose "class" field
// distill collect sets; the row's stored signals must all be allowed for
// that class. Rows without a class (imported text) are not governed by the
// collection policy and pass.
func (p *Policy) CheckRow(provenance string, hasLogprobs, hasHidden bool) error {
	if provenance == "" {
		return nil
	}
	var prov struct {
		Class *string `json:"class"`
	}
	if err := json.Unmarshal([]byte(provenance), &prov); err != nil || prov.Class == nil {
		return nil
	}
	signals := []Signal{SignalText}
	if hasLogprobs {
		signals = append(signals, SignalLogprobs)
	}
	if hasHidden {
		signals = append(signals, SignalHidden)
	}
	for _, s := range signals {
		if err := p.CheckStore(*prov.Class, s); err != nil {
			return err
		}
	}
	return nil
}

// AllowedSignals lists the signals storable for class, sorted.
func (p *Policy) AllowedSignals(class string) []Signal {
	c := p.Classes[class]
	out := append([]Signal(nil), c.Store...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// String summarises the policy for logs.
func (p *Policy) String() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(p.Classes)) {
		c := p.Classes[name]
		fmt.Fprintf(&b, "%s: teachers=%v store=%v local_only=%v; ", name, c.Teachers, c.Store, c.LocalOnly)
	}
	return strings.TrimSuffix(b.String(), "; ")
}
