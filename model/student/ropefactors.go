package student

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RopeFactors is a RoPE frequency divisor per rotated pair of a head, as
// llama.cpp's rope_freqs.weight stores them (float32): the Llama 3 scaling of
// a GGUF whose converter kept only the factors, not the rope_scaling
// parameters. It is held as a canonical string (each float32 in its shortest
// decimal form, comma-separated) so that Config stays comparable; JSON and
// YAML see a list of numbers. The zero value means none.
type RopeFactors string

// NewRopeFactors is f in canonical form.
func NewRopeFactors(f []float32) RopeFactors {
	s := make([]string, len(f))
	for i, v := range f {
		s[i] = strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	return RopeFactors(strings.Join(s, ","))
}

// Values are the factors (nil for none); an entry that is not a finite
// float32 > 0 is an error naming its index.
func (r RopeFactors) Values() ([]float32, error) {
	if r == "" {
		return nil, nil
	}
	parts := strings.Split(string(r), ",")
	out := make([]float32, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(p, 32)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("rope_freq_factors[%d] = %q: want a finite number > 0", i, p)
		}
		out[i] = float32(v)
	}
	return out, nil
}

// MarshalJSON writes the factors as a JSON array.
func (r RopeFactors) MarshalJSON() ([]byte, error) {
	v, err := r.Values()
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []float32{}
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads a JSON array of numbers.
func (r *RopeFactors) UnmarshalJSON(b []byte) error {
	var v []float32
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("rope_freq_factors: %w", err)
	}
	*r = NewRopeFactors(v)
	return nil
}

// MarshalYAML writes the factors as a YAML sequence.
func (r RopeFactors) MarshalYAML() (any, error) { return r.Values() }

// UnmarshalYAML reads a YAML sequence of numbers.
func (r *RopeFactors) UnmarshalYAML(n *yaml.Node) error {
	var v []float32
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("rope_freq_factors: %w", err)
	}
	*r = NewRopeFactors(v)
	return nil
}

// ScaledRope reports whether RoPE frequencies carry divisors (Llama 3
// rope_scaling or given factors), i.e. a GGUF of c has rope_freqs.weight.
func (c Config) ScaledRope() bool { return c.RopeScaling.Type != "" || c.RopeFactors != "" }
