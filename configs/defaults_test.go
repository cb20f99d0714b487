package configs

import (
	"testing"
	"time"
)

func TestDefaultFillsOnlyUnsetFields(t *testing.T) {
	var c struct {
		N     int
		Name  string
		Delay time.Duration
		Rate  float64
	}
	c.Rate = 0.5
	Default(&c.N, 4)
	Default(&c.Name, "public")
	Default(&c.Delay, time.Second)
	Default(&c.Rate, 0.02)
	if c.N != 4 || c.Name != "public" || c.Delay != time.Second || c.Rate != 0.5 {
		t.Fatalf("after Default: %+v, want N 4, Name public, Delay 1s and the set Rate 0.5 kept", c)
	}
}
