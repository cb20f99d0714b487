package main

import (
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-shapes", "tiny, mobilellm-125m", "-types", "Q8_0", "-threads", "2,1", "-reps", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.shapes, "|") != "tiny|mobilellm-125m" || strings.Join(c.types, "|") != "Q8_0" ||
		len(c.threads) != 2 || c.threads[0] != 2 || c.threads[1] != 1 || c.reps != 3 || c.prompt != 128 || c.decode != 64 || !c.prebuilt || c.hugePages {
		t.Errorf("config %+v", c)
	}
	if c, err := parseFlags([]string{"-hugepages"}); err != nil || !c.hugePages {
		t.Errorf("-hugepages: config %+v, err %v", c, err)
	}
	for _, bad := range [][]string{
		{"-shapes", "huge"},
		{"-threads", "0"},
		{"-threads", "x"},
		{"-prompt", "0"},
		{"-types", ""},
		{"extra"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
