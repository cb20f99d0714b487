package batch

import (
	"strings"
	"testing"
)

// Validate accepts document starts that form runs (each position continues
// the previous one's document or starts its own) and names the position of
// any other value.
func TestValidateRowStart(t *testing.T) {
	for _, c := range []struct {
		rs   []int32
		want string // "" accepts
	}{
		{nil, ""},
		{[]int32{0, 0, 2, 2, 4, 0, 1, 1, 1, 1}, ""},
		{[]int32{0, 0, 2, 2, 4, 0, 1, 1, 1}, "row starts of 9 positions, want 10"},
		{[]int32{1, 1, 2, 2, 4, 0, 1, 1, 1, 1}, "row start 1 at position 0"},
		{[]int32{0, 0, 2, 2, 4, 0, 1, 1, 5, 1}, "row start 5 at position 8 (window 1, index 3)"},
		{[]int32{0, 0, 2, 0, 4, 0, 1, 1, 1, 1}, "row start 0 at position 3"},
		{[]int32{0, 0, 2, 2, 4, 0, 1, 1, 1, -1}, "row start -1 at position 9"},
	} {
		b := &Batch{B: 2, T: 5, Tokens: make([]int32, 10), Targets: make([]int32, 10), LossMask: make([]float32, 10), RowStart: c.rs}
		err := b.Validate(3)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.rs, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: error %v, want one containing %q", c.rs, err, c.want)
		}
	}
}
