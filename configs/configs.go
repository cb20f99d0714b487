// Package configs holds distill's YAML presets (embedded into the binary, so
// the quickstart needs no files on disk) and the one strict decoder every
// config goes through.
//
// Decoding is strict: an unknown key, a wrong type or trailing documents are
// errors that name the file, the line and the key. Overrides given on the
// command line as dotted paths (train.lr=3e-4) are applied to the YAML tree
// before decoding, so they are validated exactly like file contents.
// Validation of values (ranges, consistency) belongs to each config struct's
// own Validate method, called once at the edge.
package configs

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed *.yaml
var presets embed.FS

// Presets returns the names (without .yaml) of the embedded presets.
func Presets() []string {
	entries, _ := fs.ReadDir(presets, ".")
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(names)
	return names
}

// Preset returns the bytes of an embedded preset by name ("tiny" or "tiny.yaml").
func Preset(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".yaml") + ".yaml"
	b, err := presets.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("no embedded preset %q (have: %s)", strings.TrimSuffix(name, ".yaml"), strings.Join(Presets(), ", "))
	}
	return b, nil
}

// Load reads a config from path, or from the embedded preset of that name
// when no such file exists and the name has no directory part (so
// "--config tiny" works anywhere), applies overrides, and decodes strictly into v.
func Load(path string, v any, overrides ...string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !strings.ContainsAny(path, `/\`) {
			pb, perr := Preset(path)
			if perr != nil {
				return fmt.Errorf("config %s: no such file, and %w", path, perr)
			}
			return Decode("preset:"+strings.TrimSuffix(path, ".yaml"), pb, v, overrides...)
		}
		return fmt.Errorf("config: %w", err)
	}
	return Decode(path, b, v, overrides...)
}

// Decode decodes YAML bytes strictly into v; name is used in error messages.
func Decode(name string, data []byte, v any, overrides ...string) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
		} else {
			return fmt.Errorf("%s: %s", name, cleanYAMLError(err))
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return fmt.Errorf("%s:%d: a config file holds exactly one YAML document", name, extra.Line)
	}
	owner := map[*yaml.Node]string{} // node → the --set argument that made it
	for _, o := range overrides {
		if err := applyOverride(&root, o, owner); err != nil {
			return fmt.Errorf("%s: --set %s: %w", name, o, err)
		}
	}
	// Decode the original bytes when there are no overrides; else the
	// re-encoded tree, whose lines are mapped back to the file or the
	// override that produced them.
	src, decoded := data, &root
	if len(overrides) > 0 {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		if err := enc.Encode(&root); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		src = buf.Bytes()
		decoded = &yaml.Node{}
		if err := yaml.Unmarshal(src, decoded); err != nil {
			return fmt.Errorf("%s: re-read after overrides: %s", name, cleanYAMLError(err))
		}
	}
	origins := map[int]*origin{}
	mapOrigins(&root, decoded, owner, "", origins)
	strict := yaml.NewDecoder(bytes.NewReader(src))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		if keys, typ := wrongKind(decoded, err); keys != nil {
			return fmt.Errorf("%s is another kind of config: none of its top-level keys (%s) is a key of %s", name, strings.Join(keys, ", "), typ)
		}
		return fmt.Errorf("%s", describeErrors(name, err, origins))
	}
	return nil
}

// wrongKind recognises a config of another kind (a model preset where a
// training config belongs): every top-level key of the document is unknown
// to the target type. It returns those keys and the type's name, or nil.
func wrongKind(doc *yaml.Node, err error) ([]string, string) {
	var te *yaml.TypeError
	if !errors.As(err, &te) || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, ""
	}
	top := doc.Content[0]
	unknown, typ := map[string]bool{}, ""
	for _, e := range te.Errors {
		m := lineRe.FindStringSubmatch(e)
		if m == nil {
			continue
		}
		if nf := notFoundRe.FindStringSubmatch(m[2]); nf != nil {
			unknown[nf[1]] = true
			if typ == "" {
				typ = strings.TrimPrefix(nf[2], "configs.")
			}
		}
	}
	var keys []string
	for j := 0; j+1 < len(top.Content); j += 2 {
		k := top.Content[j].Value
		if !unknown[k] {
			return nil, ""
		}
		keys = append(keys, k)
	}
	if len(keys) < 2 { // one unknown key alone is a typo, reported as such
		return nil, ""
	}
	return keys, typ
}

// origin is where a line of the YAML being decoded came from.
type origin struct {
	line     int    // line in the config file (0: not from the file)
	override string // the --set argument that produced it ("" = the file)
	path     string // dotted key path of what the line holds
}

// mapOrigins walks the tree as edited (src: original line numbers, override
// nodes in owner) beside the same tree as decoded (dst: the lines the
// decoder reports) and records, per decoded line, its origin.
func mapOrigins(src, dst *yaml.Node, owner map[*yaml.Node]string, path string, out map[int]*origin) {
	if src == nil || dst == nil || src.Kind != dst.Kind {
		return
	}
	note := func(s, d *yaml.Node, path string) {
		o := out[d.Line]
		if o == nil {
			out[d.Line] = &origin{line: s.Line, override: owner[s], path: path}
			return
		}
		if o.override == "" {
			o.override = owner[s]
		}
		o.path = commonPath(o.path, path)
	}
	switch src.Kind {
	case yaml.DocumentNode:
		if len(src.Content) == 1 && len(dst.Content) == 1 {
			mapOrigins(src.Content[0], dst.Content[0], owner, path, out)
		}
	case yaml.MappingNode: // a collection's own line is its first entry's: noted there
		if len(src.Content) != len(dst.Content) {
			return
		}
		for j := 0; j+1 < len(src.Content); j += 2 {
			p := src.Content[j].Value
			if path != "" {
				p = path + "." + p
			}
			note(src.Content[j], dst.Content[j], p)
			mapOrigins(src.Content[j+1], dst.Content[j+1], owner, p, out)
		}
	case yaml.SequenceNode:
		if len(src.Content) != len(dst.Content) {
			return
		}
		for i := range src.Content {
			mapOrigins(src.Content[i], dst.Content[i], owner, fmt.Sprintf("%s[%d]", path, i), out)
		}
	case yaml.ScalarNode:
		note(src, dst, path)
	}
}

// commonPath is the longest common dotted prefix of two key paths.
func commonPath(a, b string) string {
	if len(b) < len(a) {
		a, b = b, a
	}
	if strings.HasPrefix(b, a) && (len(b) == len(a) || b[len(a)] == '.' || b[len(a)] == '[') {
		return a
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	n := 0
	for n < len(as) && n < len(bs) && as[n] == bs[n] {
		n++
	}
	return strings.Join(as[:n], ".")
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)
var notFoundRe = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
var unmarshalRe = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")

// describeErrors turns yaml.v3's "line N: field x not found in type T" into
// "name:N: unknown key "x" (in T)" and "line N: cannot unmarshal !!str `abc`
// into int" into "name:N: key a.b: want int, got str "abc"", with N the
// line in the file, or "name: --set a.b=abc: ..." for a line an override
// produced. Multiple problems are joined with "; ".
func describeErrors(name string, err error, origins map[int]*origin) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		parts := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			m := lineRe.FindStringSubmatch(e)
			if m == nil {
				parts = append(parts, name+": "+e)
				continue
			}
			where := name + ":" + m[1]
			o := origins[atoi(m[1])]
			if o != nil && o.override != "" {
				where = name + ": --set " + o.override
			} else if o != nil && o.line > 0 {
				where = fmt.Sprintf("%s:%d", name, o.line)
			}
			msg := m[2]
			if nf := notFoundRe.FindStringSubmatch(msg); nf != nil {
				msg = fmt.Sprintf("unknown key %q (in %s)", nf[1], strings.TrimPrefix(nf[2], "configs."))
			} else if um := unmarshalRe.FindStringSubmatch(msg); um != nil {
				key := "value"
				if o != nil && o.path != "" {
					key = "key " + o.path
				}
				msg = fmt.Sprintf("%s: want %s, got %s", key, um[3], um[1])
				if um[2] != "" {
					msg += fmt.Sprintf(" %q", um[2])
				}
			}
			parts = append(parts, where+": "+msg)
		}
		return strings.Join(parts, "; ")
	}
	return name + ": " + cleanYAMLError(err)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	return strings.ReplaceAll(s, "\n", " ")
}

// applyOverride sets a dotted key path (a.b.c=value) in the YAML tree,
// creating intermediate mappings. The value is parsed as YAML, so numbers,
// booleans and lists ([1,2]) keep their types. Every node it creates is
// recorded in owner with kv, so that decode errors can name the override.
func applyOverride(root *yaml.Node, kv string, owner map[*yaml.Node]string) error {
	eq := strings.IndexByte(kv, '=')
	if eq <= 0 {
		return errors.New("want key.path=value")
	}
	path, raw := strings.Split(kv[:eq], "."), kv[eq+1:]
	var val yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &val); err != nil {
		return fmt.Errorf("value: %s", cleanYAMLError(err))
	}
	var valNode *yaml.Node
	if len(val.Content) == 1 {
		valNode = val.Content[0]
	} else {
		valNode = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	}
	var own func(n *yaml.Node)
	own = func(n *yaml.Node) {
		owner[n] = kv
		for _, c := range n.Content {
			own(c)
		}
	}
	own(valNode)
	n := root
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for i, key := range path {
		if key == "" {
			return errors.New("empty key in path")
		}
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(path[:i], "."))
		}
		found := -1
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				found = j
				break
			}
		}
		last := i == len(path)-1
		if found < 0 {
			k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
			var child *yaml.Node
			if last {
				child = valNode
			} else {
				child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				owner[child] = kv
			}
			owner[k] = kv
			n.Content = append(n.Content, k, child)
			n = child
			continue
		}
		if last {
			n.Content[found+1] = valNode
		} else {
			n = n.Content[found+1]
		}
	}
	return nil
}
