package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/distill-ml/distill/configs"
	"github.com/distill-ml/distill/distill/collect"
	"github.com/distill-ml/distill/distill/policy"
	"github.com/distill-ml/distill/internal/testpeers"
)

// k8sContainer is the part of a pod's container the test reads.
type k8sContainer struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
			FieldRef     *struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		CompletionMode string `yaml:"completionMode"`
		Completions    int    `yaml:"completions"`
		Parallelism    int    `yaml:"parallelism"`
		Template       struct {
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name      string                      `yaml:"name"`
					ConfigMap *struct{ Name string }      `yaml:"configMap"`
					PVC       *struct{ ClaimName string } `yaml:"persistentVolumeClaim"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// expandK8s does Kubernetes' $(VAR) expansion of container args.
func expandK8s(s string, env map[string]string) string {
	return regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// parseWithCLI resolves args to a distill subcommand and parses its flags
// and positional arguments exactly as the real CLI does, without running it.
func parseWithCLI(t *testing.T, args []string) (path string, flag func(string) string, positional []string) {
	t.Helper()
	root := newRootCmd(&app{stdout: io.Discard, stderr: io.Discard})
	c, rest, err := root.Find(args)
	if err != nil || c == root {
		t.Fatalf("%q: no such distill command: %v", args, err)
	}
	if err := c.ParseFlags(rest); err != nil {
		t.Fatalf("%q: flags: %v", args, err)
	}
	if err := c.ValidateArgs(c.Flags().Args()); err != nil {
		t.Fatalf("%q: arguments: %v", args, err)
	}
	return c.CommandPath(), func(name string) string {
		f := c.Flags().Lookup(name)
		if f == nil {
			t.Fatalf("%s has no flag --%s", c.CommandPath(), name)
		}
		return f.Value.String()
	}, c.Flags().Args()
}

// setsOf returns the --set values of a collect command line, read back
// through the real command's flag set.
func setsOf(args []string) ([]string, error) {
	root := newRootCmd(&app{stdout: io.Discard, stderr: io.Discard})
	c, rest, err := root.Find(args)
	if err != nil {
		return nil, err
	}
	if err := c.ParseFlags(rest); err != nil {
		return nil, err
	}
	return c.Flags().GetStringArray("set")
}

// TestK8sJobManifest keeps docs/collect-k8s-job.yaml honest: the collect Job is
// an Indexed Job whose --shard /N matches its completions, its command line
// parses with the real CLI, the config it mounts decodes strictly and
// validates (with the key from the Secret named by api_key_env), the policy
// validates, every index writes its own output directory, and the merge Job
// reads exactly those N datasets.
func TestK8sJobManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testpeers.RepoRoot(t), "docs", "collect-k8s-job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var objs []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest: %v", err)
		}
		objs = append(objs, o)
	}
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	if len(byKind["Job"]) != 2 || len(byKind["ConfigMap"]) != 1 || len(byKind["PersistentVolumeClaim"]) != 1 {
		t.Fatalf("want 2 Jobs, a ConfigMap and a PVC; have %v", len(objs))
	}
	if byKind["Secret"] != nil {
		t.Fatal("the manifest must not carry the API key (a Secret object)")
	}
	cm := byKind["ConfigMap"][0]
	var collectJob, mergeJob *k8sObject
	for i := range byKind["Job"] {
		j := &byKind["Job"][i]
		if j.Spec.CompletionMode == "Indexed" {
			collectJob = j
		} else {
			mergeJob = j
		}
	}
	if collectJob == nil || mergeJob == nil {
		t.Fatal("want an Indexed collect Job and a merge Job")
	}
	n := collectJob.Spec.Completions
	if n < 2 || collectJob.Spec.Parallelism < 1 || collectJob.Spec.Parallelism > n {
		t.Fatalf("completions %d, parallelism %d", n, collectJob.Spec.Parallelism)
	}
	c := collectJob.Spec.Template.Spec.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, v := range collectJob.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name != cm.Metadata.Name {
			t.Errorf("volume %s mounts ConfigMap %q, the manifest defines %q", v.Name, v.ConfigMap.Name, cm.Metadata.Name)
		}
	}
	keyEnv := ""
	for _, e := range c.Env {
		if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "key") {
			t.Errorf("env %s has an inline value; keys come from a Secret", e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			keyEnv = e.Name
		}
	}
	var outs []string
	for idx := 0; idx < n; idx++ {
		// What the pod sees: JOB_COMPLETION_INDEX set by the Job controller, and
		// env entries from the downward API's completion-index annotation.
		env := map[string]string{"JOB_COMPLETION_INDEX": fmt.Sprint(idx)}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				if e.ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
					t.Fatalf("env %s from unknown field %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
				}
				env[e.Name] = fmt.Sprint(idx)
			}
		}
		args := c.Args
		if len(c.Command) != 1 || c.Command[0] != "distill" {
			t.Fatalf("collect command %q, want [distill]", c.Command)
		}
		expanded := make([]string, len(args))
		for i, a := range args {
			expanded[i] = expandK8s(a, env)
		}
		path, flag, _ := parseWithCLI(t, expanded)
		if path != "distill collect" {
			t.Fatalf("collect Job runs %q", path)
		}
		sh, err := collect.ParseShard(flag("shard"), func(k string) string { return env[k] })
		if err != nil || sh.Index != idx || sh.Count != n {
			t.Fatalf("index %d: --shard %q gives %+v, %v; want %d/%d", idx, flag("shard"), sh, err, idx, n)
		}
		// The config: a key of the mounted ConfigMap, decoded strictly with the --set overrides.
		cfgPath := flag("config")
		mount := mounts["config"]
		if !strings.HasPrefix(cfgPath, mount+"/") {
			t.Fatalf("--config %s is not in the ConfigMap mount %s", cfgPath, mount)
		}
		text, ok := cm.Data[strings.TrimPrefix(cfgPath, mount+"/")]
		if !ok {
			t.Fatalf("ConfigMap has no %s", cfgPath)
		}
		sets, err := setsOf(expanded)
		if err != nil {
			t.Fatal(err)
		}
		var cfg collect.Config
		if err := configs.Decode(cfgPath, []byte(text), &cfg, sets...); err != nil {
			t.Fatal(err)
		}
		cfg.Defaults()
		if cfg.Teacher.OpenAI == nil || cfg.Teacher.OpenAI.APIKeyEnv != keyEnv || keyEnv == "" {
			t.Fatalf("api_key_env %v, the Secret sets %q", cfg.Teacher.OpenAI, keyEnv)
		}
		t.Setenv(keyEnv, "sk-test")
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(cfg.Out, "$(") {
			t.Fatalf("out %q not expanded", cfg.Out)
		}
		if !strings.HasPrefix(cfg.Out, mounts["data"]+"/") {
			t.Errorf("out %s is not on the data volume %s", cfg.Out, mounts["data"])
		}
		outs = append(outs, cfg.Out)
		pol, ok := cm.Data[strings.TrimPrefix(cfg.Policy, mount+"/")]
		if !ok {
			t.Fatalf("policy %s is not in the ConfigMap", cfg.Policy)
		}
		var p policy.Policy
		if err := configs.Decode(cfg.Policy, []byte(pol), &p); err != nil {
			t.Fatal(err)
		}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := p.CheckTerms(cfg.TeacherName(), cfg.AcknowledgeTerms); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, o := range outs {
		if seen[o] {
			t.Fatalf("two indexes write %s", o)
		}
		seen[o] = true
	}
	mc := mergeJob.Spec.Template.Spec.Containers[0]
	if len(mc.Command) != 1 || mc.Command[0] != "distill" {
		t.Fatalf("merge command %q", mc.Command)
	}
	path, flag, inputs := parseWithCLI(t, mc.Args)
	if path != "distill data merge" || flag("out") == "" {
		t.Fatalf("merge Job runs %q --out %q", path, flag("out"))
	}
	want := make([]string, len(outs))
	for i, o := range outs {
		want[i] = o + "/" + collect.DatasetDir
	}
	if strings.Join(inputs, " ") != strings.Join(want, " ") {
		t.Fatalf("merge reads %q, the collect Job writes %q", inputs, want)
	}
}
