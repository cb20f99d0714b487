package student

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestRopeFactorsRoundTripAndValidate: given RoPE factors survive JSON
// (checkpoint config.json) and YAML (student files) bit for bit, drive
// RopeFreqFactors, and bad lists are refused naming the problem.
func TestRopeFactorsRoundTripAndValidate(t *testing.T) {
	f := []float32{math.Nextafter32(3.3, 4), 8} // head size 4: two pairs
	cfg := smallConfig()
	cfg.RopeFactors = NewRopeFactors(f)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"rope_freq_factors":[`) {
		t.Fatalf("JSON %s: want rope_freq_factors as a list", b)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || back != cfg {
		t.Fatalf("JSON round trip: %+v (%v), want %+v", back, err, cfg)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var yback Config
	if err := yaml.Unmarshal(y, &yback); err != nil || yback != cfg {
		t.Fatalf("YAML round trip: %+v (%v), want %+v\n%s", yback, err, cfg, y)
	}
	for i, g := range cfg.RopeFreqFactors() {
		if g != float64(f[i]) {
			t.Fatalf("RopeFreqFactors()[%d] = %v, want %v", i, g, f[i])
		}
	}
	if plain, _ := json.Marshal(smallConfig()); strings.Contains(string(plain), "rope_freq_factors") {
		t.Fatalf("a config without factors writes them: %s", plain)
	}

	bad := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.RopeFactors = NewRopeFactors([]float32{1, 2, 3}) }, "rope_freq_factors has 3 entries, want head size / 2"},
		{func(c *Config) { c.RopeFactors = "1,0" }, "rope_freq_factors[1]"},
		{func(c *Config) { c.RopeFactors = "1,NaN" }, "rope_freq_factors[1] = \"NaN\""},
		{func(c *Config) {
			c.RopeScaling = RopeScaling{Type: RopeScalingLlama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalContext: 32}
		}, "exclusive"},
	}
	for _, tc := range bad {
		c := cfg
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want an error containing %q", err, tc.want)
		}
	}
}
