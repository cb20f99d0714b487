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
	for _, o := range overrides {
		if err := applyOverride(&root, o); err != nil {
			return fmt.Errorf("%s: override %q: %w", name, o, err)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&root); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	// Decode the original bytes for line numbers when there are no overrides.
	src := data
	if len(overrides) > 0 {
		src = buf.Bytes()
	}
	strict := yaml.NewDecoder(bytes.NewReader(src))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s", prefixLines(name, err))
	}
	return nil
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)
var notFoundRe = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

// prefixLines turns yaml.v3's "line N: field x not found in type T" into
// "name:N: unknown key "x" (in T)" and joins multiple problems with "; ".
func prefixLines(name string, err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		parts := make([]string, 0, len(te.Errors))
		for _, e := range te.Errors {
			m := lineRe.FindStringSubmatch(e)
			if m == nil {
				parts = append(parts, name+": "+e)
				continue
			}
			msg := m[2]
			if nf := notFoundRe.FindStringSubmatch(msg); nf != nil {
				msg = fmt.Sprintf("unknown key %q (in %s)", nf[1], strings.TrimPrefix(nf[2], "configs."))
			}
			parts = append(parts, fmt.Sprintf("%s:%s: %s", name, m[1], msg))
		}
		return strings.Join(parts, "; ")
	}
	return name + ": " + cleanYAMLError(err)
}

func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	return strings.ReplaceAll(s, "\n", " ")
}

// applyOverride sets a dotted key path (a.b.c=value) in the YAML tree,
// creating intermediate mappings. The value is parsed as YAML, so numbers,
// booleans and lists ([1,2]) keep their types.
func applyOverride(root *yaml.Node, kv string) error {
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
			}
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
