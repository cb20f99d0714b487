package main

import (
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-n", "10", "-slow", "0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.n != 10 || c.slow != 0 || c.abuse != 8 || c.parallel != 2 || c.readTimeout != 2*time.Second {
		t.Errorf("config %+v", c)
	}
	for _, bad := range [][]string{{"-n", "0"}, {"-parallel", "0"}, {"-slow", "-1"}, {"-read-timeout", "0s"}, {"extra"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	p := point{}
	for i := 20; i >= 1; i-- { // 20 ms .. 1 ms, unsorted
		p.latencies = append(p.latencies, time.Duration(i)*time.Millisecond)
	}
	// Nearest rank: p50 of 20 values is the 10th, p95 the 19th.
	if got := p.percentile(0.5); got != 10*time.Millisecond {
		t.Errorf("p50 %v", got)
	}
	if got := p.percentile(0.95); got != 19*time.Millisecond {
		t.Errorf("p95 %v", got)
	}
}
