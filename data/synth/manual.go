package synth

import (
	"fmt"
	"strings"
)

// paragraph is one numbered policy paragraph of a manual.
type paragraph struct {
	id    string // "§3.2"
	topic *topicDef
	v     vals // values the text was rendered from (nil for scope paragraphs)
	text  string
	order int // position in the manual
}

type section struct {
	title string
	paras []*paragraph
}

// manual is one generated maintenance-policy manual for one equipment model.
type manual struct {
	split      string
	index      int
	id         string // "MP-SCN-0417"
	rev        string
	cat        *category
	model      string
	maker      string // manufacturer display name
	site       string
	depot      string
	owner      string
	effective  string
	fleetSize  int
	vendorPool []string // vendors this manual may name in exceptions (display names)
	sections   []section
	paras      []*paragraph // in manual order
	// mentioned holds every vendor display name and base the manual names.
	mentioned map[string]bool
	// entities are the names specific to this manual (manual ID, model,
	// manufacturer, site and vendor name bases); held-out manuals' entities
	// never occur in training text.
	entities []string
}

// header is the one-line title used in prompts.
func (m *manual) header() string {
	return fmt.Sprintf("Policy %s rev %s (%s %s %s)", m.id, m.rev, m.maker, m.model, m.cat.noun)
}

// context returns the manual-level template values.
func (m *manual) context() vals {
	return vals{
		"unit": m.cat.unit, "units": m.cat.units, "model": m.model, "noun": m.cat.noun,
		"battery": m.cat.battery, "batteries": m.cat.batteries, "screen": m.cat.screen,
		"sensor": m.cat.sensor, "depot": m.depot, "site": m.site,
	}
}

// text renders the manual as plain text for the manuals_*.txt files.
func (m *manual) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s rev %s ===\n", m.id, m.rev)
	fmt.Fprintf(&b, "Maintenance Policy %s, revision %s\n", m.id, m.rev)
	fmt.Fprintf(&b, "Equipment: %s %s %s (fleet of %d)\n", m.maker, m.model, m.cat.noun, m.fleetSize)
	fmt.Fprintf(&b, "Site: %s\nEffective: %s\nPolicy owner: %s\n", m.site, m.effective, m.owner)
	for i, s := range m.sections {
		fmt.Fprintf(&b, "\n%d %s\n", i+1, s.title)
		for _, p := range s.paras {
			fmt.Fprintf(&b, "%s %s\n", p.id, p.text)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// nameSource hands out entity names for one split family (training or
// held-out) and keeps model designations and manual IDs unique corpus-wide.
type nameSource struct {
	heldOut bool
	vendors namePool
	sites   namePool
	used    map[string]bool // model designations and manual IDs already issued
}

func (ns *nameSource) vendor(r *rng) (display, base string) {
	base = pick(r, ns.vendors.names(ns.heldOut))
	return base + pick(r, vendorSuffixes), base
}

func (ns *nameSource) unique(r *rng, draw func(*rng) string) string {
	for {
		s := draw(r)
		if !ns.used[s] {
			ns.used[s] = true
			return s
		}
	}
}

// newManual generates manual index of split from its own random stream.
func newManual(seed uint64, split string, index int, ns *nameSource, cats []*category, tops []*topicDef) *manual {
	r := newRNG(seed, "manual/"+split, uint64(index))
	cat := pick(r, cats)
	m := &manual{split: split, index: index, cat: cat, mentioned: map[string]bool{}}
	m.model = ns.unique(r, modelName)
	m.id = ns.unique(r, func(r *rng) string { return fmt.Sprintf("MP-%s-%04d", cat.code, r.intn(10000)) })
	m.rev = pick(r, revisions)
	var makerBase string
	m.maker, makerBase = ns.vendor(r)
	siteBase := pick(r, ns.sites.names(ns.heldOut))
	m.site = siteBase + " " + pick(r, siteKinds)
	m.depot = pick(r, regions) + " " + pick(r, depotKinds)
	m.owner = pick(r, roles)
	m.effective = fmt.Sprintf("%d-%02d-%02d", 2023+r.intn(4), 1+r.intn(12), 1+r.intn(28))
	m.fleetSize = r.rangeStep(10, 400, 5)
	m.mentioned[makerBase] = true
	m.entities = []string{m.id, m.model, makerBase, siteBase}

	// Vendors this manual may name, all distinct from the manufacturer.
	seen := map[string]bool{makerBase: true}
	for len(m.vendorPool) < 6 {
		d, base := ns.vendor(r)
		if seen[base] {
			continue
		}
		seen[base] = true
		m.vendorPool = append(m.vendorPool, d)
	}

	ctx := m.context()
	var paras []*paragraph
	for _, t := range tops {
		if !t.applies(cat) || !r.chance(0.62) {
			continue
		}
		if t.subjectKey == "" {
			paras = append(paras, newParagraph(r, m, t, ctx, ""))
			continue
		}
		subs := append([]string(nil), t.subjects(m)...)
		shuffle(r, subs)
		n := 1 + r.intn(t.maxInst)
		for i := 0; i < n && i < len(subs); i++ {
			if t.subjectKey == "vendor" {
				m.mentionVendor(subs[i])
			}
			paras = append(paras, newParagraph(r, m, t, ctx, subs[i]))
		}
	}
	scope := &paragraph{text: fmt.Sprintf("This policy covers the %d %s %s at %s and applies to every shift.", m.fleetSize, m.model, cat.units, m.site)}
	review := &paragraph{text: fmt.Sprintf("The %s owns this policy and reviews it every %d months.", m.owner, r.rangeStep(6, 24, 6))}
	byGroup := map[string][]*paragraph{groupScope: {scope, review}}
	for _, p := range paras {
		byGroup[p.topic.group] = append(byGroup[p.topic.group], p)
	}
	rest := append([]string(nil), groupOrder[1:]...)
	shuffle(r, rest)
	order := 0
	for _, g := range append([]string{groupScope}, rest...) {
		ps := byGroup[g]
		if len(ps) == 0 {
			continue
		}
		if g != groupScope {
			shuffle(r, ps)
		}
		num := len(m.sections) + 1
		for i, p := range ps {
			p.id = fmt.Sprintf("§%d.%d", num, i+1)
			p.order = order
			order++
			m.paras = append(m.paras, p)
		}
		m.sections = append(m.sections, section{title: g, paras: ps})
	}
	return m
}

func (m *manual) mentionVendor(display string) {
	m.mentioned[display] = true
	for _, sfx := range vendorSuffixes[1:] {
		if base, ok := strings.CutSuffix(display, sfx); ok {
			m.mentioned[base] = true
			m.entities = append(m.entities, base)
			return
		}
	}
	m.entities = append(m.entities, display)
}

// newParagraph draws one fact of topic t and renders its text.
func newParagraph(r *rng, m *manual, t *topicDef, ctx vals, subject string) *paragraph {
	v := factVals(r, m, t, ctx, subject)
	text := render(pick(r, t.texts), v)
	if r.chance(0.25) {
		text += " " + pick(r, fillers)
	}
	return &paragraph{topic: t, v: v, text: text}
}

// factVals copies the manual context, sets the subject and samples the
// topic's values.
func factVals(r *rng, m *manual, t *topicDef, ctx vals, subject string) vals {
	v := make(vals, len(ctx)+8)
	for k, x := range ctx {
		v[k] = x
	}
	if t.subjectKey != "" {
		v[t.subjectKey] = subject
	}
	if t.subjectKey == "part" {
		// Agreement for plural parts ("the bearings are", "the keypad is").
		if strings.HasSuffix(subject, "s") && !strings.HasSuffix(subject, "lens") {
			v["is"], v["has"], v["pron"], v["obj"], v["shows"] = "are", "have", "they", "them", "show"
		} else {
			v["is"], v["has"], v["pron"], v["obj"], v["shows"] = "is", "has", "it", "it", "shows"
		}
	}
	t.sample(r, m, v)
	return v
}

// hasFact reports whether the manual has a paragraph of topic t about subject.
func (m *manual) hasFact(t *topicDef, subject string) bool {
	for _, p := range m.paras {
		if p.topic == t && (t.subjectKey == "" || p.v[t.subjectKey] == subject) {
			return true
		}
	}
	return false
}
