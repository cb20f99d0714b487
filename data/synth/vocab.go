package synth

import (
	"fmt"
	"strings"
)

// category is one kind of equipment in the fleet. Its word lists decide which
// policy topics apply and what the paragraphs talk about.
type category struct {
	key       string // stable identifier, e.g. "scanner"
	code      string // manual-ID code, e.g. "SCN"
	noun      string // title noun, e.g. "handheld scanner"
	unit      string // short noun used in sentences
	units     string // plural of unit
	battery   string // the unit's own battery ("" when mains powered)
	batteries string
	charges   bool // the unit charges batteries (chargers)
	handheld  bool // can be dropped
	digital   bool // runs firmware
	pressure  bool // has a discharge pressure and vibration limits
	printer   bool // has a printhead
	screen    string
	sensor    string // calibrated instrument ("" when none)
	lifeUnit  string // unit of service life for wear parts
	lifeRange [3]int // lo, hi, step of service life
	clean     []string
	inspect   []string
	wear      []string
	spares    []string // plural noun phrases
	symptoms  []string // noun phrases
}

func categories() []*category {
	return []*category{
		{
			key: "scanner", code: "SCN", noun: "handheld scanner", unit: "scanner", units: "scanners",
			battery: "battery pack", batteries: "battery packs", handheld: true, digital: true,
			screen: "display", lifeUnit: "months in service", lifeRange: [3]int{12, 48, 6},
			clean:    []string{"scan window", "charging contacts", "trigger assembly", "keypad"},
			inspect:  []string{"hand strap", "trigger assembly", "housing seals", "charging contacts", "scan window"},
			wear:     []string{"hand strap", "trigger assembly", "housing seals", "scan window"},
			spares:   []string{"battery packs", "hand straps", "trigger assemblies"},
			symptoms: []string{"a scan engine fault", "a recurring Wi-Fi dropout", "a frozen display", "a charging fault", "a dead trigger"},
		},
		{
			key: "tablet", code: "TAB", noun: "rugged tablet", unit: "tablet", units: "tablets",
			battery: "battery module", batteries: "battery modules", handheld: true, digital: true,
			screen: "touchscreen", lifeUnit: "months in service", lifeRange: [3]int{12, 60, 6},
			clean:    []string{"touchscreen", "docking connector", "camera lens", "port covers"},
			inspect:  []string{"rubber bumpers", "docking connector", "stylus tether", "port covers"},
			wear:     []string{"rubber bumpers", "stylus tether", "port covers", "screen protector"},
			spares:   []string{"battery modules", "styluses", "screen protectors"},
			symptoms: []string{"an unresponsive touchscreen", "a docking fault", "loss of GPS fix", "a reboot loop", "a swollen case"},
		},
		{
			key: "printer", code: "PRN", noun: "mobile label printer", unit: "printer", units: "printers",
			battery: "printer battery", batteries: "printer batteries", handheld: true, digital: true, printer: true,
			sensor: "media sensor", lifeUnit: "months in service", lifeRange: [3]int{6, 36, 6},
			clean:    []string{"printhead", "platen roller", "media sensor", "tear bar"},
			inspect:  []string{"platen roller", "belt clip", "tear bar", "media cover latch"},
			wear:     []string{"platen roller", "belt clip", "media cover latch", "tear bar"},
			spares:   []string{"platen rollers", "printheads", "belt clips"},
			symptoms: []string{"a persistent paper jam", "faded print", "a media sensor error", "a Bluetooth pairing failure"},
		},
		{
			key: "charger", code: "CHG", noun: "multi-bay battery charger", unit: "charger", units: "chargers",
			charges: true, digital: true, sensor: "charge-current monitor",
			lifeUnit: "operating hours", lifeRange: [3]int{8000, 40000, 2000},
			clean:    []string{"charging contacts", "air vents", "battery bays"},
			inspect:  []string{"power cord", "charging contacts", "cooling fan", "bay latches"},
			wear:     []string{"cooling fan", "power supply", "bay latches"},
			spares:   []string{"power supplies", "cooling fans", "bay latches"},
			symptoms: []string{"a bay that will not charge", "a fan failure alarm", "a blinking fault LED", "an overheating bay"},
		},
		{
			key: "pump", code: "PMP", noun: "centrifugal transfer pump", unit: "pump", units: "pumps",
			pressure: true, sensor: "pressure gauge", lifeUnit: "operating hours", lifeRange: [3]int{2000, 20000, 500},
			clean:    []string{"suction strainer", "motor cooling fins", "drain valve"},
			inspect:  []string{"mechanical seal", "coupling guard", "bearings", "suction strainer", "anchor bolts"},
			wear:     []string{"mechanical seal", "bearings", "impeller", "coupling insert"},
			spares:   []string{"mechanical seals", "bearing sets", "coupling inserts"},
			symptoms: []string{"seal leakage", "cavitation noise", "a motor overload trip", "loss of prime"},
		},
		{
			key: "compressor", code: "CMP", noun: "rotary screw air compressor", unit: "compressor", units: "compressors",
			pressure: true, digital: true, sensor: "pressure switch", lifeUnit: "operating hours", lifeRange: [3]int{2000, 16000, 500},
			clean:    []string{"intake filter", "cooler fins", "condensate drain"},
			inspect:  []string{"drive belt", "safety valve", "air hoses", "condensate drain"},
			wear:     []string{"intake filter", "oil separator", "drive belt", "oil filter"},
			spares:   []string{"intake filters", "drive belts", "oil separators"},
			symptoms: []string{"a high-temperature shutdown", "oil carry-over", "a pressure switch fault", "excessive belt noise"},
		},
		{
			key: "terminal", code: "VMT", noun: "vehicle-mount terminal", unit: "terminal", units: "terminals",
			digital: true, screen: "screen", lifeUnit: "months in service", lifeRange: [3]int{12, 60, 6},
			clean:    []string{"screen", "keyboard", "air vents"},
			inspect:  []string{"mounting bracket", "power cable", "antenna cable", "keyboard"},
			wear:     []string{"mounting bracket", "power cable", "keyboard"},
			spares:   []string{"power cables", "keyboards", "mounting brackets"},
			symptoms: []string{"a flickering screen", "a power cable fault", "loss of network", "a keyboard failure"},
		},
		{
			key: "pallet", code: "PLT", noun: "powered pallet truck", unit: "pallet truck", units: "pallet trucks",
			battery: "traction battery", batteries: "traction batteries",
			lifeUnit: "operating hours", lifeRange: [3]int{1000, 8000, 250},
			clean:    []string{"battery compartment", "drive wheel", "control handle"},
			inspect:  []string{"load wheels", "forks", "hydraulic hoses", "brake"},
			wear:     []string{"load wheels", "drive wheel", "hydraulic seals"},
			spares:   []string{"load wheels", "drive wheels", "hydraulic seals"},
			symptoms: []string{"a hydraulic leak", "a brake fault", "a drive motor error", "a lift that will not hold"},
		},
	}
}

// Shared vocabulary: common nouns of the domain that every manual may use.
// They are structure, not entities; the held-out golden manuals use them too.
var (
	cleaningAgents = []string{"isopropyl alcohol wipes", "a dry lint-free cloth", "a soft brush", "compressed air",
		"a mild detergent solution", "the vendor cleaning kit", "pre-moistened cleaning swabs", "a damp microfiber cloth"}
	defects     = []string{"cracks", "wear", "corrosion", "loose fittings", "contamination", "discoloration", "visible damage"}
	containers  = []string{"fireproof battery bin", "sand-filled quarantine box", "hazardous-waste cabinet", "battery quarantine locker"}
	contractors = []string{"hazardous-waste contractor", "battery recycling partner", "environmental services team"}
	roles       = []string{"shift lead", "site supervisor", "maintenance planner", "regional depot manager",
		"vendor field engineer", "safety officer", "operations manager", "fleet coordinator", "reliability engineer"}
	tiers      = []string{"Tier 1", "Tier 2", "Tier 3"}
	regions    = []string{"North", "South", "East", "West", "Central", "Coastal", "Valley", "Harbor", "Mountain", "River"}
	depotKinds = []string{"repair depot", "service center", "workshop"}
	systems    = []string{"CMMS", "fleet maintenance log", "asset register", "work-order system", "depot ledger", "shift handover log"}
	channels   = []string{"the vendor portal", "the central purchasing desk", "the regional depot", "a framework purchase order", "the vendor service desk"}
	hazards    = []string{"smoke", "sparking", "a burning smell", "a chemical leak", "an electric shock"}
	siteKinds  = []string{"distribution center", "warehouse", "plant", "cross-dock", "yard", "fulfillment center"}
	revisions  = []string{"A", "B", "C", "D", "E"}
	fillers    = []string{"This applies on every shift.", "The work is signed off in the unit's service history.",
		"Contract staff follow the same rule.", "Only trained staff carry out this task.",
		"Site instructions may add detail but never relax this rule.", "The rule covers spare and loaner units alike."}
)

// Name pools. Vendors and sites are syllable compounds; the pool is split
// deterministically so that held-out (golden) manuals use names that never
// occur in the training split.
var (
	vendorHeads = []string{"Kor", "Tal", "Bren", "Ost", "Vel", "Mar", "Dun", "Har", "Quil", "Sor", "Fen", "Lum", "Nor", "Pra", "Rav",
		"Sten", "Tor", "Vas", "Wex", "Zan", "Cal", "Del", "Ery", "Gal", "Jor", "Kel", "Lin", "Mos", "Orv", "Bel"}
	vendorTails    = []string{"vex", "mund", "ora", "tek", "lyn", "dor", "ix", "ano", "well", "tron", "eda", "gard", "ium", "oft", "ac"}
	vendorSuffixes = []string{"", " Systems", " Industrial", " Devices", " Technik", " Supply", " Instruments"}
	siteHeads      = []string{"Ash", "Birch", "Cedar", "Elm", "Fair", "Glen", "Hol", "Lake", "Mill", "Oak", "Pine", "Red", "Stone", "Brook", "Clay", "Iron", "Wil", "Thorn"}
	siteTails      = []string{"field", "gate", "ford", "haven", "ridge", "wood", "port", "bury", "dale", "mere", "stead", "ton"}
)

// namePool is the list of compound names of one kind, split into a held-out
// part (every fourth name) and a training part.
type namePool struct{ heldOut, train []string }

func newNamePool(heads, tails []string) namePool {
	var p namePool
	i := 0
	for _, h := range heads {
		for _, t := range tails {
			name := h + t
			if i%4 == 0 {
				p.heldOut = append(p.heldOut, name)
			} else {
				p.train = append(p.train, name)
			}
			i++
		}
	}
	return p
}

func (p namePool) names(heldOut bool) []string {
	if heldOut {
		return p.heldOut
	}
	return p.train
}

// modelName draws an equipment model designation like "HX-417" or "TR-9200s".
func modelName(r *rng) string {
	const letters = "ABCDEFGHJKLMNPRSTVWXZ"
	s := string([]byte{letters[r.intn(len(letters))], letters[r.intn(len(letters))]}) + "-"
	if r.chance(0.5) {
		s += fmt.Sprintf("%d", r.rangeStep(100, 999, 1))
	} else {
		s += fmt.Sprintf("%d", r.rangeStep(1000, 9900, 50))
	}
	if r.chance(0.25) {
		s += pick(r, []string{"s", "x", "i", "+"})
	}
	return s
}

// capitalize upper-cases the first ASCII letter of s.
func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// decapitalize lower-cases the first letter of s (for question prefixes).
func decapitalize(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
