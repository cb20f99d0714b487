package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Config is a pipeline file (configs/pipeline.yaml, configs/quickstart.yaml):
// named stages, each one distill command, run in order. Strings may use
// {work} (the working directory) and {name} for any entry of Params; the
// command line, after expansion, is part of the stage's key, so changing a
// parameter reruns exactly the stages that use it (and those whose inputs change).
type Config struct {
	Name   string            `yaml:"name" json:"name"`
	Work   string            `yaml:"work" json:"work"`     // working directory for every stage's files
	Params map[string]string `yaml:"params" json:"params"` // values for {name} placeholders
	// Profiles are named sets of parameter values (`distill quickstart
	// --profile full`): a profile's values replace the defaults under Params,
	// and explicit --set params.NAME=VALUE overrides still win (ProfileSets).
	Profiles map[string]map[string]string `yaml:"profiles" json:"profiles"`
	Stages   []StageConfig                `yaml:"stages" json:"stages"`
}

// StageConfig is one stage.
type StageConfig struct {
	Name    string   `yaml:"name" json:"name"`
	Run     string   `yaml:"run" json:"run"`         // a distill command line (without "distill"), shell-like quoting
	Inputs  []string `yaml:"inputs" json:"inputs"`   // files/directories whose contents key the stage
	Outputs []string `yaml:"outputs" json:"outputs"` // what the stage must produce
	// AllowFail lets the pipeline go on when the command exits non-zero (e.g.
	// a gate whose failure is itself the result); the failure is reported.
	AllowFail bool `yaml:"allow_fail" json:"allow_fail"`
}

var placeholder = regexp.MustCompile(`\{([a-z_][a-z0-9_]*)\}`)

// Validate checks names, placeholders and quoting once.
func (c *Config) Validate() error {
	var errs []error
	if c.Work == "" {
		errs = append(errs, errors.New("work: required"))
	}
	if len(c.Stages) == 0 {
		errs = append(errs, errors.New("stages: none"))
	}
	for _, name := range slices.Sorted(maps.Keys(c.Profiles)) {
		for _, key := range slices.Sorted(maps.Keys(c.Profiles[name])) {
			if _, ok := c.Params[key]; !ok {
				errs = append(errs, fmt.Errorf("profiles.%s.%s: not a parameter (define it under params)", name, key))
			}
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Stages {
		if s.Name == "" || seen[s.Name] {
			errs = append(errs, fmt.Errorf("stages[%d]: empty or duplicate name %q", i, s.Name))
		}
		seen[s.Name] = true
		all := append(append([]string{s.Run}, s.Inputs...), s.Outputs...)
		for _, str := range all {
			if _, err := c.expand(str); err != nil {
				errs = append(errs, fmt.Errorf("stages[%d] (%s): %w", i, s.Name, err))
			}
		}
		if args, err := SplitArgs(s.Run); err != nil || len(args) == 0 {
			errs = append(errs, fmt.Errorf("stages[%d] (%s): run: %v", i, s.Name, orEmpty(err)))
		}
	}
	return errors.Join(errs...)
}

// ProfileSets returns the profile's parameter values as overrides
// ("params.NAME=VALUE", sorted by name), to be applied before the explicit
// ones so that those win.
func (c *Config) ProfileSets(name string) ([]string, error) {
	p, ok := c.Profiles[name]
	if !ok {
		known := "none"
		if len(c.Profiles) > 0 {
			known = strings.Join(slices.Sorted(maps.Keys(c.Profiles)), ", ")
		}
		return nil, fmt.Errorf("profile %q: not defined under profiles (known: %s)", name, known)
	}
	sets := make([]string, 0, len(p))
	for _, key := range slices.Sorted(maps.Keys(p)) {
		sets = append(sets, "params."+key+"="+p[key])
	}
	return sets, nil
}

func orEmpty(err error) error {
	if err == nil {
		return errors.New("empty command")
	}
	return err
}

func (c *Config) expand(s string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		key := m[1 : len(m)-1]
		if key == "work" {
			return c.Work
		}
		v, ok := c.Params[key]
		if !ok {
			missing = append(missing, key)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("unknown placeholder(s) {%s} (define them under params)", strings.Join(missing, "}, {"))
	}
	return out, nil
}

// Command runs one distill command line (args without the program name).
type Command func(ctx context.Context, args []string) error

// Build turns the config into runnable stages that call exec.
func (c *Config) Build(exec Command, onFail func(stage string, err error)) ([]Stage, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out []Stage
	for _, sc := range c.Stages {
		sc := sc
		run, _ := c.expand(sc.Run)
		args, _ := SplitArgs(run)
		st := Stage{Name: sc.Name, Params: args}
		for _, in := range sc.Inputs {
			p, _ := c.expand(in)
			st.Inputs = append(st.Inputs, p)
		}
		for _, o := range sc.Outputs {
			p, _ := c.expand(o)
			st.Outputs = append(st.Outputs, p)
		}
		st.Run = func(ctx context.Context) error {
			err := exec(ctx, args)
			if err != nil && sc.AllowFail {
				if onFail != nil {
					onFail(sc.Name, err)
				}
				return nil
			}
			return err
		}
		out = append(out, st)
	}
	return out, nil
}

// SplitArgs splits a command line on white space, honouring single and
// double quotes and backslash escapes (no variables, no globbing).
func SplitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
			inArg = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inArg = true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote in %q", quote, s)
	}
	if escaped {
		return nil, fmt.Errorf("trailing backslash in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
