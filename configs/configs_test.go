package configs

import (
	"strings"
	"testing"
)

type inner struct {
	LR    float64 `yaml:"lr"`
	Steps int     `yaml:"steps"`
}

type outer struct {
	Name  string `yaml:"name"`
	Train inner  `yaml:"train"`
}

func TestDecodeStrictUnknownKeyNamesFileLineKey(t *testing.T) {
	src := "name: a\ntrain:\n  lr: 0.1\n  stepz: 3\n"
	var v outer
	err := Decode("x.yaml", []byte(src), &v)
	if err == nil {
		t.Fatal("unknown key accepted")
	}
	for _, want := range []string{"x.yaml:4", `"stepz"`, "unknown key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestDecodeWrongTypeNamesLine(t *testing.T) {
	var v outer
	err := Decode("y.yaml", []byte("name: a\ntrain:\n  steps: many\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "y.yaml:3") {
		t.Fatalf("want error at y.yaml:3, got %v", err)
	}
}

func TestDecodeOverrides(t *testing.T) {
	var v outer
	err := Decode("z.yaml", []byte("name: a\ntrain:\n  lr: 0.1\n"), &v, "train.steps=7", "train.lr=3e-4", "name=b")
	if err != nil {
		t.Fatal(err)
	}
	if v.Train.Steps != 7 || v.Train.LR != 3e-4 || v.Name != "b" {
		t.Fatalf("overrides not applied: %+v", v)
	}
	if err := Decode("z.yaml", []byte("name: a\n"), &v, "train.nope=1"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown override key accepted: %v", err)
	}
	if err := Decode("z.yaml", []byte("name: a\n"), &v, "novalue"); err == nil {
		t.Fatal("malformed override accepted")
	}
}

func TestDecodeRejectsMultipleDocuments(t *testing.T) {
	var v outer
	if err := Decode("m.yaml", []byte("name: a\n---\nname: b\n"), &v); err == nil {
		t.Fatal("second document accepted")
	}
}
