package synth

import (
	"fmt"
	"strings"
)

// vals holds the values a paragraph, question or answer template is filled
// with: the manual's context (unit, model, battery...) and the fact's own
// values (N, part, vendor...).
type vals map[string]string

// render fills "{key}" (and "{^key}", capitalized) placeholders from v.
// Unknown keys are left in place; TestTemplatesRender catches them.
func render(tmpl string, v vals) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		key := tmpl[i+1 : i+j]
		upper := strings.HasPrefix(key, "^")
		val, ok := v[strings.TrimPrefix(key, "^")]
		switch {
		case !ok:
			b.WriteString(tmpl[i : i+j+1])
		case upper:
			b.WriteString(capitalize(val))
		default:
			b.WriteString(val)
		}
		tmpl = tmpl[i+j+1:]
	}
}

// ask is one kind of question a policy paragraph answers: its paraphrases,
// the canonical answer, and the key facts the answer must state (each of
// which the paragraph text contains verbatim).
type ask struct {
	name      string
	questions []string
	answer    string
	keys      []string
}

// topicDef is one kind of policy paragraph.
type topicDef struct {
	name  string
	group string // section title it is filed under
	// subjectKey names the value that tells instances of the topic apart in
	// one manual ("part", "vendor", "symptom"); "" when the topic occurs once.
	subjectKey string
	maxInst    int
	applies    func(c *category) bool
	// subjects lists candidate subject values for manual m.
	subjects func(m *manual) []string
	// sample draws the fact's own values into v (the subject is already set).
	sample func(r *rng, m *manual, v vals)
	texts  []string
	asks   []ask
}

const (
	groupScope    = "Scope"
	groupCare     = "Routine care"
	groupPower    = "Power and batteries"
	groupLimits   = "Operating limits"
	groupRepair   = "Repair and replacement"
	groupVendor   = "Vendor exceptions"
	groupEscalate = "Escalation"
	groupRecords  = "Records and approvals"
)

// groupOrder is the canonical order of sections; manuals keep scope first
// and shuffle the rest, so paragraph numbers differ between manuals.
var groupOrder = []string{groupScope, groupCare, groupPower, groupLimits, groupRepair, groupVendor, groupEscalate, groupRecords}

func always(*category) bool { return true }

func itoa(n int) string { return fmt.Sprintf("%d", n) }

// dec formats tenths: dec(15) = "1.5".
func dec(tenths int) string { return fmt.Sprintf("%d.%d", tenths/10, tenths%10) }

func hasBattery(c *category) bool { return c.battery != "" }

func topics() []*topicDef {
	return []*topicDef{
		{
			name: "clean", group: groupCare, subjectKey: "part", maxInst: 2, applies: always,
			subjects: func(m *manual) []string { return m.cat.clean },
			sample: func(r *rng, m *manual, v vals) {
				if r.chance(0.7) {
					v["N"], v["per"] = itoa(pick(r, []int{2, 3, 5, 7, 10, 14, 21, 30})), "days"
				} else {
					v["N"], v["per"] = itoa(r.rangeStep(2, 8, 1)), "weeks"
				}
				v["agent"] = pick(r, cleaningAgents)
			},
			texts: []string{
				"Clean the {part} every {N} {per} using {agent}.",
				"The {part} {is} cleaned at least every {N} {per}; use {agent} only.",
				"Every {N} {per}, technicians clean the {part} with {agent} and check {obj} for residue.",
			},
			asks: []ask{
				{name: "interval", answer: "Clean the {part} every {N} {per}.", keys: []string{"{N} {per}"}, questions: []string{
					"How often must the {part} be cleaned?",
					"What is the cleaning interval for the {part}?",
					"How frequently should technicians clean the {part} of the {model}?",
					"At what interval {is} the {part} cleaned?",
				}},
				{name: "agent", answer: "Clean the {part} with {agent}.", keys: []string{"{agent}"}, questions: []string{
					"What should be used to clean the {part}?",
					"Which cleaning material is approved for the {part}?",
					"What do technicians clean the {part} with?",
				}},
			},
		},
		{
			name: "inspect", group: groupCare, subjectKey: "part", maxInst: 2, applies: always,
			subjects: func(m *manual) []string { return m.cat.inspect },
			sample: func(r *rng, m *manual, v vals) {
				if r.chance(0.6) {
					v["N"], v["per"] = itoa(pick(r, []int{7, 14, 30, 45, 60, 90})), "days"
				} else {
					v["N"], v["per"] = itoa(r.rangeStep(2, 12, 1)), "months"
				}
				v["defect"] = pick(r, defects)
			},
			texts: []string{
				"Inspect the {part} for {defect} every {N} {per}.",
				"A visual check of the {part} for {defect} is due every {N} {per}.",
				"Technicians inspect the {part} every {N} {per} and look for {defect}.",
			},
			asks: []ask{
				{name: "interval", answer: "Inspect the {part} every {N} {per}.", keys: []string{"{N} {per}"}, questions: []string{
					"How often {is} the {part} inspected?",
					"What is the inspection interval for the {part}?",
					"When {is} the {part} due for inspection?",
					"How much time may pass between inspections of the {part}?",
				}},
				{name: "defect", answer: "Inspect the {part} for {defect}.", keys: []string{"{defect}"}, questions: []string{
					"What {is} the {part} checked for during inspection?",
					"What are technicians looking for when they inspect the {part}?",
				}},
			},
		},
		{
			name: "wear_life", group: groupRepair, subjectKey: "part", maxInst: 2, applies: always,
			subjects: func(m *manual) []string { return m.cat.wear },
			sample: func(r *rng, m *manual, v vals) {
				lr := m.cat.lifeRange
				v["N"], v["life"] = itoa(r.rangeStep(lr[0], lr[1], lr[2])), m.cat.lifeUnit
			},
			texts: []string{
				"Replace the {part} after {N} {life}, even if {pron} {shows} no wear.",
				"The service life of the {part} is {N} {life}; replace {obj} when that limit is reached.",
				"Once the {part} {has} reached {N} {life}, {pron} {is} replaced at the next scheduled service.",
			},
			asks: []ask{
				{name: "life", answer: "Replace the {part} after {N} {life}.", keys: []string{"{N} {life}"}, questions: []string{
					"What is the service life of the {part}?",
					"After how long must the {part} be replaced?",
					"How long can the {part} stay in use before {pron} {is} replaced?",
					"When {is} the {part} of the {model} due for replacement?",
				}},
			},
		},
		{
			name: "battery_cycles", group: groupPower, applies: hasBattery,
			sample: func(r *rng, m *manual, v vals) { v["N"] = itoa(r.rangeStep(300, 1500, 50)) },
			texts: []string{
				"Replace the {battery} after {N} charge cycles.",
				"Each {battery} is rated for {N} charge cycles and is replaced when it reaches that count.",
				"A {battery} that has completed {N} charge cycles is withdrawn and replaced.",
			},
			asks: []ask{
				{name: "cycles", answer: "Replace the {battery} after {N} charge cycles.", keys: []string{"{N} charge cycles"}, questions: []string{
					"After how many charge cycles is the {battery} replaced?",
					"What is the charge-cycle limit of the {battery}?",
					"How many charge cycles may a {battery} complete before replacement?",
					"At what cycle count must the {model} {battery} be swapped?",
				}},
			},
		},
		{
			name: "battery_capacity", group: groupPower, applies: hasBattery,
			sample: func(r *rng, m *manual, v vals) { v["P"] = itoa(r.rangeStep(60, 85, 5)) },
			texts: []string{
				"Retire a {battery} whose measured capacity falls below {P}% of its rated capacity.",
				"If a capacity test shows less than {P}% of rated capacity, the {battery} is retired.",
			},
			asks: []ask{
				{name: "threshold", answer: "Retire the {battery} when its capacity falls below {P}% of rated capacity.", keys: []string{"{P}%"}, questions: []string{
					"Below what capacity is the {battery} retired?",
					"What capacity threshold retires a {battery}?",
					"At what measured capacity must a {battery} be taken out of use?",
				}},
			},
		},
		{
			name: "battery_storage", group: groupPower, applies: hasBattery,
			sample: func(r *rng, m *manual, v vals) {
				a := r.rangeStep(5, 15, 1)
				v["A"], v["B"] = itoa(a), itoa(a+r.rangeStep(5, 15, 1))
				v["P"] = itoa(r.rangeStep(30, 60, 5))
			},
			texts: []string{
				"Store spare {batteries} at {A} to {B} °C with a charge level of about {P}%.",
				"Spare {batteries} are kept at {A} to {B} °C and charged to {P}% before storage.",
			},
			asks: []ask{
				{name: "temperature", answer: "Store spare {batteries} at {A} to {B} °C.", keys: []string{"{A} to {B} °C"}, questions: []string{
					"At what temperature are spare {batteries} stored?",
					"What storage temperature applies to spare {batteries}?",
					"How warm or cold may the storage area for spare {batteries} be?",
				}},
				{name: "charge", answer: "Store spare {batteries} at {P}% charge.", keys: []string{"{P}%"}, questions: []string{
					"What charge level should spare {batteries} be stored at?",
					"How much charge should a {battery} hold when it goes into storage?",
				}},
			},
		},
		{
			name: "swollen_battery", group: groupPower, applies: hasBattery,
			sample: func(r *rng, m *manual, v vals) {
				v["container"], v["contractor"], v["N"] = pick(r, containers), pick(r, contractors), itoa(r.rangeStep(2, 14, 1))
			},
			texts: []string{
				"A swollen or leaking {battery} is moved to the {container} immediately and collected by the {contractor} within {N} days.",
				"Place any swollen {battery} in the {container} at once; the {contractor} collects it within {N} days.",
			},
			asks: []ask{
				{name: "where", answer: "Move the swollen {battery} to the {container} immediately.", keys: []string{"{container}"}, questions: []string{
					"Where does a swollen {battery} go?",
					"What happens to a {battery} that is swollen or leaking?",
				}},
				{name: "pickup", answer: "The {contractor} collects a swollen {battery} within {N} days.", keys: []string{"{N} days"}, questions: []string{
					"Within how many days is a swollen {battery} collected?",
					"How soon must a swollen {battery} be picked up?",
				}},
			},
		},
		{
			name: "charge_temperature", group: groupPower,
			applies: func(c *category) bool { return c.battery != "" || c.charges },
			sample: func(r *rng, m *manual, v vals) {
				v["T"], v["T2"] = itoa(r.rangeStep(0, 10, 1)), itoa(r.rangeStep(35, 45, 1))
				if v["battery"] == "" {
					v["battery"] = "battery"
				}
			},
			texts: []string{
				"Do not charge a {battery} when the ambient temperature is below {T} °C or above {T2} °C.",
				"Charging is allowed only between {T} °C and {T2} °C ambient temperature.",
			},
			asks: []ask{
				{name: "low", answer: "Do not charge below {T} °C ambient temperature.", keys: []string{"{T} °C"}, questions: []string{
					"What is the lowest ambient temperature for charging?",
					"How cold may it be when a {battery} is charged?",
				}},
				{name: "high", answer: "Do not charge above {T2} °C ambient temperature.", keys: []string{"{T2} °C"}, questions: []string{
					"What is the highest ambient temperature for charging?",
					"Above what room temperature must charging stop?",
				}},
			},
		},
		{
			name: "housing_temperature", group: groupLimits, applies: always,
			sample: func(r *rng, m *manual, v vals) { v["T"] = itoa(r.rangeStep(45, 95, 5)) },
			texts: []string{
				"Take the {unit} out of service if its housing temperature exceeds {T} °C.",
				"A {unit} whose housing temperature rises above {T} °C is switched off and tagged out.",
			},
			asks: []ask{
				{name: "limit", answer: "Take the {unit} out of service above {T} °C housing temperature.", keys: []string{"{T} °C"}, questions: []string{
					"At what housing temperature is the {unit} taken out of service?",
					"What is the maximum housing temperature for the {unit}?",
					"When does overheating take the {model} out of service?",
				}},
			},
		},
		{
			name: "drop", group: groupLimits, applies: func(c *category) bool { return c.handheld },
			sample: func(r *rng, m *manual, v vals) {
				v["H"], v["depot"] = dec(r.rangeStep(8, 20, 1)), m.depot
			},
			texts: []string{
				"A {unit} dropped from more than {H} m onto a hard floor is sent to the {depot} for inspection before reuse.",
				"After a fall from higher than {H} m, the {unit} is not used again until the {depot} has inspected it.",
			},
			asks: []ask{
				{name: "height", answer: "A {unit} dropped from more than {H} m needs inspection.", keys: []string{"{H} m"}, questions: []string{
					"From what height does a dropped {unit} need inspection?",
					"What drop height sends a {unit} for inspection?",
				}},
				{name: "action", answer: "Send it to the {depot} for inspection if it fell more than {H} m.", keys: []string{"{depot}", "{H} m"}, questions: []string{
					"What must happen to a {unit} after a drop?",
					"Where is a dropped {unit} inspected before reuse?",
				}},
			},
		},
		{
			name: "discharge_pressure", group: groupLimits, applies: func(c *category) bool { return c.pressure },
			sample: func(r *rng, m *manual, v vals) { v["P"] = dec(r.rangeStep(40, 160, 5)) },
			texts: []string{
				"Stop the {unit} if the discharge pressure exceeds {P} bar.",
				"The discharge pressure must stay at or below {P} bar; above that the {unit} is stopped.",
			},
			asks: []ask{
				{name: "limit", answer: "Stop the {unit} if the discharge pressure exceeds {P} bar.", keys: []string{"{P} bar"}, questions: []string{
					"At what discharge pressure must the {unit} be stopped?",
					"What is the discharge pressure limit of the {model}?",
				}},
			},
		},
		{
			name: "vibration", group: groupLimits, applies: func(c *category) bool { return c.pressure },
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["V"], v["role"] = itoa(pick(r, []int{7, 14, 30})), dec(r.rangeStep(18, 71, 1)), pick(r, roles)
			},
			texts: []string{
				"Measure vibration every {N} days; readings above {V} mm/s are escalated to the {role}.",
				"Vibration is measured every {N} days, and any reading above {V} mm/s goes to the {role}.",
			},
			asks: []ask{
				{name: "threshold", answer: "Escalate vibration above {V} mm/s to the {role}.", keys: []string{"{V} mm/s", "{role}"}, questions: []string{
					"What vibration level must be escalated, and to whom?",
					"Which vibration readings are escalated?",
				}},
				{name: "interval", answer: "Measure vibration every {N} days.", keys: []string{"{N} days"}, questions: []string{
					"How often is vibration measured?",
					"What is the vibration measurement interval?",
				}},
			},
		},
		{
			name: "calibration", group: groupLimits, applies: func(c *category) bool { return c.sensor != "" },
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["P"] = itoa(r.rangeStep(3, 24, 3)), itoa(r.rangeStep(1, 5, 1))
			},
			texts: []string{
				"Calibrate the {sensor} every {N} months; a deviation above {P}% takes the {unit} out of service until it is recalibrated.",
				"The {sensor} is calibrated every {N} months, and a deviation of more than {P}% means the {unit} is tagged out.",
			},
			asks: []ask{
				{name: "interval", answer: "Calibrate the {sensor} every {N} months.", keys: []string{"{N} months"}, questions: []string{
					"How often is the {sensor} calibrated?",
					"What is the calibration interval of the {sensor}?",
				}},
				{name: "tolerance", answer: "A deviation above {P}% takes the {unit} out of service.", keys: []string{"{P}%"}, questions: []string{
					"What calibration deviation takes the {unit} out of service?",
					"How large may the {sensor} deviation be?",
				}},
			},
		},
		{
			name: "screen_crack", group: groupRepair, applies: func(c *category) bool { return c.screen != "" },
			sample: func(r *rng, m *manual, v vals) { v["N"] = itoa(r.rangeStep(2, 30, 1)) },
			texts: []string{
				"Cracks longer than {N} mm in the {screen} require replacement of the display assembly.",
				"Replace the display assembly when a crack in the {screen} is longer than {N} mm.",
			},
			asks: []ask{
				{name: "length", answer: "Replace the display assembly if a crack in the {screen} is longer than {N} mm.", keys: []string{"{N} mm"}, questions: []string{
					"What crack length requires replacement of the {screen}?",
					"When is a cracked {screen} replaced?",
				}},
			},
		},
		{
			name: "printhead", group: groupRepair, applies: func(c *category) bool { return c.printer },
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["G"] = itoa(r.rangeStep(25, 150, 5)), pick(r, []string{"A", "B", "C"})
			},
			texts: []string{
				"Replace the printhead after {N} km of printed media or when print quality drops below grade {G}.",
				"The printhead is replaced after {N} km of printed media, or earlier if print quality falls below grade {G}.",
			},
			asks: []ask{
				{name: "distance", answer: "Replace the printhead after {N} km of printed media.", keys: []string{"{N} km"}, questions: []string{
					"After how much printed media is the printhead replaced?",
					"What is the printhead life in printed media?",
				}},
				{name: "grade", answer: "Replace the printhead when print quality drops below grade {G}.", keys: []string{"grade {G}"}, questions: []string{
					"What print quality grade triggers a printhead replacement?",
				}},
			},
		},
		{
			name: "vendor_warranty", group: groupVendor, subjectKey: "vendor", maxInst: 2, applies: always,
			subjects: func(m *manual) []string { return m.vendorPool },
			sample:   func(r *rng, m *manual, v vals) { v["M"] = itoa(r.rangeStep(6, 36, 6)) },
			texts: []string{
				"Vendor exception: during the {M}-month warranty, {units} supplied by {vendor} are repaired by {vendor} only; technicians must not open the housing.",
				"Exception for {vendor}: while the {M}-month warranty runs, {vendor} {units} go back to {vendor} for every repair and are not opened on site.",
			},
			asks: []ask{
				{name: "months", answer: "{vendor} units have a {M}-month warranty and are repaired by {vendor} only.", keys: []string{"{M}-month"}, questions: []string{
					"How long is the warranty on {units} supplied by {vendor}?",
					"What warranty period applies to {vendor} units?",
					"For how many months are {vendor} {units} under vendor warranty?",
					"How long does {vendor} repair its own {units} under warranty?",
				}},
			},
		},
		{
			name: "vendor_parts", group: groupVendor, subjectKey: "vendor", maxInst: 2, applies: always,
			subjects: func(m *manual) []string { return m.vendorPool },
			sample: func(r *rng, m *manual, v vals) {
				v["channel"], v["role"] = pick(r, channels), pick(r, roles)
			},
			texts: []string{
				"Exception for {vendor}: replacement parts for {vendor} units are ordered only through {channel}, and only the {role} may fit them.",
				"Parts for {vendor} {units} come only through {channel}; fitting them is reserved for the {role}.",
			},
			asks: []ask{
				{name: "channel", answer: "Order {vendor} parts only through {channel}.", keys: []string{"{channel}"}, questions: []string{
					"How are replacement parts for {vendor} units ordered?",
					"Through which channel are {vendor} parts ordered?",
				}},
				{name: "fitter", answer: "Only the {role} may fit {vendor} parts.", keys: []string{"{role}"}, questions: []string{
					"Who may fit replacement parts on {vendor} units?",
					"Who is allowed to install {vendor} parts?",
				}},
			},
		},
		{
			name: "vendor_turnaround", group: groupVendor, subjectKey: "vendor", maxInst: 1, applies: always,
			subjects: func(m *manual) []string { return m.vendorPool },
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["role"] = itoa(r.rangeStep(3, 20, 1)), pick(r, roles)
			},
			texts: []string{
				"{vendor} must return repaired {units} within {N} business days; a late return is escalated by the {role}.",
				"Repairs sent to {vendor} come back within {N} business days, or the {role} escalates the delay.",
			},
			asks: []ask{
				{name: "days", answer: "{vendor} must return repaired units within {N} business days.", keys: []string{"{N} business days"}, questions: []string{
					"How quickly must {vendor} return repaired {units}?",
					"What is the repair turnaround for {vendor}?",
				}},
			},
		},
		{
			name: "escalation", group: groupEscalate, subjectKey: "symptom", maxInst: 2, applies: always,
			subjects: func(m *manual) []string { return m.cat.symptoms },
			sample: func(r *rng, m *manual, v vals) {
				v["K"], v["tier"], v["H"] = itoa(r.rangeStep(1, 3, 1)), pick(r, tiers), itoa(pick(r, []int{2, 4, 8, 12, 24, 48}))
				if v["K"] == "1" {
					v["restarts"] = "1 restart"
				} else {
					v["restarts"] = v["K"] + " restarts"
				}
			},
			texts: []string{
				"If {symptom} persists after {restarts}, open a {tier} ticket within {H} hours.",
				"{^symptom} that is still present after {restarts} is escalated as a {tier} ticket within {H} hours.",
			},
			asks: []ask{
				{name: "ticket", answer: "Open a {tier} ticket within {H} hours.", keys: []string{"{tier}", "{H} hours"}, questions: []string{
					"How is {symptom} escalated if restarts do not help?",
					"What ticket is opened for persistent {symptom}, and how fast?",
					"What ticket tier is used for {symptom} that persists after restarts?",
				}},
				{name: "restarts", answer: "Escalate {symptom} after {restarts}.", keys: []string{"{restarts}"}, questions: []string{
					"How many restarts are tried before {symptom} is escalated?",
					"After how many restarts is {symptom} escalated?",
				}},
			},
		},
		{
			name: "safety_report", group: groupEscalate, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				v["hazard"], v["role"], v["H"] = pick(r, hazards), pick(r, roles), itoa(pick(r, []int{5, 10, 15, 30, 60}))
			},
			texts: []string{
				"Any injury or {hazard} involving a {unit} is reported to the {role} within {H} minutes, and the {unit} is quarantined.",
				"Report injuries or {hazard} involving a {unit} to the {role} within {H} minutes; quarantine the {unit}.",
			},
			asks: []ask{
				{name: "report", answer: "Report it to the {role} within {H} minutes.", keys: []string{"{role}", "{H} minutes"}, questions: []string{
					"Who must be told about a safety incident with a {unit}, and how fast?",
					"How quickly must a safety incident involving the {model} be reported?",
					"What is the reporting rule for injuries involving a {unit}?",
				}},
			},
		},
		{
			name: "escalation_chain", group: groupEscalate, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				rs := append([]string(nil), roles...)
				shuffle(r, rs)
				v["role1"], v["role2"], v["role3"] = rs[0], rs[1], rs[2]
				h1 := pick(r, []int{2, 4, 8, 12, 24})
				v["H1"], v["H2"] = itoa(h1), itoa(h1*pick(r, []int{2, 3, 4}))
			},
			texts: []string{
				"Escalation path: first the {role1}; if unresolved after {H1} hours, the {role2}; after {H2} hours, the {role3}.",
				"Open issues go to the {role1}, then to the {role2} after {H1} hours, and to the {role3} after {H2} hours.",
			},
			asks: []ask{
				{name: "second", answer: "Escalate to the {role2} after {H1} hours.", keys: []string{"{role2}", "{H1} hours"}, questions: []string{
					"Who handles an issue the {role1} has not resolved, and when?",
					"What is the second step of the escalation path?",
				}},
				{name: "final", answer: "Escalate to the {role3} after {H2} hours.", keys: []string{"{role3}", "{H2} hours"}, questions: []string{
					"Who is the final escalation level, and after how long?",
					"When does an open issue reach the last escalation level?",
				}},
			},
		},
		{
			name: "cost_approval", group: groupRecords, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				rs := append([]string(nil), roles...)
				shuffle(r, rs)
				v["C"], v["role"], v["role2"] = itoa(r.rangeStep(150, 2500, 50)), rs[0], rs[1]
			},
			texts: []string{
				"Repairs estimated above {C} USD need written approval from the {role}; smaller repairs may be approved by the {role2}.",
				"The {role} approves any repair over {C} USD; the {role2} approves repairs up to that amount.",
			},
			asks: []ask{
				{name: "threshold", answer: "Repairs above {C} USD need approval from the {role}.", keys: []string{"{C} USD", "{role}"}, questions: []string{
					"Above what repair cost is special approval required?",
					"What is the approval threshold for {unit} repairs?",
					"Who approves an expensive repair of the {model}?",
				}},
				{name: "small", answer: "The {role2} may approve repairs up to {C} USD.", keys: []string{"{role2}"}, questions: []string{
					"Who may approve small repairs?",
					"Who approves a low-cost repair?",
				}},
			},
		},
		{
			name: "pricing_tier", group: groupRecords, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				ts := []string{"A", "B", "C", "D"}
				shuffle(r, ts)
				v["N"], v["X"], v["Y"] = itoa(r.rangeStep(12, 60, 6)), ts[0], ts[1]
			},
			texts: []string{
				"Depot repairs of {units} older than {N} months are billed at pricing tier {X}; newer units are billed at tier {Y}.",
				"Pricing tier {X} applies to depot repairs of {units} older than {N} months, and tier {Y} to newer ones.",
			},
			asks: []ask{
				{name: "old", answer: "Depot repairs of {units} older than {N} months are billed at tier {X}.", keys: []string{"tier {X}"}, questions: []string{
					"Which pricing tier applies to depot repairs of older {units}?",
					"At what tier is a depot repair of an old {unit} billed?",
				}},
				{name: "new", answer: "Newer {units} are billed at tier {Y}.", keys: []string{"tier {Y}"}, questions: []string{
					"Which pricing tier applies to depot repairs of newer {units}?",
				}},
			},
		},
		{
			name: "repair_record", group: groupRecords, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				v["system"], v["N"] = pick(r, systems), itoa(pick(r, []int{4, 8, 12, 24, 48, 72}))
			},
			texts: []string{
				"Record every repair in the {system} within {N} hours, with the asset tag and the parts used.",
				"Each repair is entered in the {system} within {N} hours of completion.",
			},
			asks: []ask{
				{name: "where", answer: "Record repairs in the {system}.", keys: []string{"{system}"}, questions: []string{
					"Where are repairs recorded?",
					"In which system is a {unit} repair logged?",
				}},
				{name: "deadline", answer: "Record the repair within {N} hours.", keys: []string{"{N} hours"}, questions: []string{
					"How soon must a repair be recorded?",
					"What is the deadline for logging a repair?",
				}},
			},
		},
		{
			name: "firmware", group: groupRecords, applies: func(c *category) bool { return c.digital },
			sample: func(r *rng, m *manual, v vals) {
				v["N"] = itoa(pick(r, []int{7, 14, 21, 30, 45, 60}))
				v["V"] = fmt.Sprintf("%d.%d.%d", r.rangeStep(2, 9, 1), r.intn(10), r.intn(20))
			},
			texts: []string{
				"Install firmware updates within {N} days of release; {units} running a version older than {V} are blocked from the network.",
				"Firmware updates are installed within {N} days of release, and any {unit} below version {V} is kept off the network.",
			},
			asks: []ask{
				{name: "days", answer: "Install firmware updates within {N} days of release.", keys: []string{"{N} days"}, questions: []string{
					"How soon must firmware updates be installed?",
					"What is the deadline for installing a firmware update on the {model}?",
				}},
				{name: "version", answer: "{^units} older than version {V} are blocked from the network.", keys: []string{"{V}"}, questions: []string{
					"What is the minimum firmware version allowed on the network?",
					"Which firmware versions are blocked from the network?",
				}},
			},
		},
		{
			name: "loaner", group: groupRepair, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["depot"] = itoa(pick(r, []int{2, 4, 8, 12, 24, 48})), m.depot
			},
			texts: []string{
				"If a {unit} is out of service for more than {N} hours, issue a loaner from the {depot}.",
				"A loaner {unit} from the {depot} is issued when a unit is out of service for more than {N} hours.",
			},
			asks: []ask{
				{name: "hours", answer: "Issue a loaner from the {depot} after {N} hours out of service.", keys: []string{"{N} hours", "{depot}"}, questions: []string{
					"When is a loaner {unit} issued?",
					"How long must a {unit} be out of service before a loaner is issued?",
					"Where do loaner {units} come from, and when?",
				}},
			},
		},
		{
			name: "spares", group: groupRepair, subjectKey: "spare", maxInst: 1, applies: always,
			subjects: func(m *manual) []string { return m.cat.spares },
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["M"] = itoa(r.rangeStep(2, 6, 1)), itoa(r.rangeStep(10, 60, 5))
			},
			texts: []string{
				"Each site keeps at least {N} spare {spare} for every {M} {units} in service.",
				"Stock at least {N} spare {spare} per {M} {units} in service at every site.",
			},
			asks: []ask{
				{name: "ratio", answer: "Keep at least {N} spare {spare} per {M} {units}.", keys: []string{"{N} spare {spare}", "{M} {units}"}, questions: []string{
					"How many spare {spare} must a site keep?",
					"What is the minimum stock of spare {spare}?",
				}},
			},
		},
		{
			name: "decommission", group: groupRepair, applies: always,
			sample: func(r *rng, m *manual, v vals) {
				v["N"], v["M"] = itoa(r.rangeStep(3, 10, 1)), itoa(r.rangeStep(2, 6, 1))
			},
			texts: []string{
				"A {unit} is decommissioned after {N} years in service or {M} depot repairs, whichever comes first.",
				"Decommission the {unit} when it reaches {N} years in service or after {M} depot repairs, whichever is first.",
			},
			asks: []ask{
				{name: "years", answer: "Decommission the {unit} after {N} years in service.", keys: []string{"{N} years"}, questions: []string{
					"After how many years is a {unit} decommissioned?",
					"What is the maximum service age of a {unit}?",
				}},
			},
		},
	}
}
