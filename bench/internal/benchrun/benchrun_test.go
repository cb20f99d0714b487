package benchrun

import (
	"math"
	"strings"
	"testing"
)

func TestNum(t *testing.T) {
	if got := Num(0.12345, 3); got != "0.123" {
		t.Fatalf("Num(0.12345, 3) = %q", got)
	}
	if got := Num(math.NaN(), 2); got != "n/a" {
		t.Fatalf("Num(NaN) = %q", got)
	}
}

func TestDistillNamesTheFailedSubcommand(t *testing.T) {
	err := Distill("/bin/false", "gate", "--x")
	if err == nil || !strings.Contains(err.Error(), "distill gate") {
		t.Fatalf("Distill(/bin/false gate) = %v, want an error naming distill gate", err)
	}
	if err := Distill("/bin/true", "train"); err != nil {
		t.Fatal(err)
	}
}
