package optim

import (
	"errors"
	"fmt"
	"math"
)

// Schedule is linear warmup from 0 to PeakLR over WarmupSteps updates, then a
// cosine decay to MinLR at TotalSteps (held at MinLR afterwards).
type Schedule struct {
	PeakLR      float64
	MinLR       float64
	WarmupSteps int
	TotalSteps  int
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	var errs []error
	if !(s.PeakLR > 0 && s.PeakLR < 1) {
		errs = append(errs, fmt.Errorf("lr must be in (0, 1), got %g", s.PeakLR))
	}
	if !(s.MinLR >= 0 && s.MinLR <= s.PeakLR) {
		errs = append(errs, fmt.Errorf("min_lr must be in [0, lr], got %g", s.MinLR))
	}
	if s.TotalSteps <= 0 {
		errs = append(errs, fmt.Errorf("steps must be > 0, got %d", s.TotalSteps))
	}
	if s.WarmupSteps < 0 || s.WarmupSteps > s.TotalSteps {
		errs = append(errs, fmt.Errorf("warmup must be in [0, steps=%d], got %d", s.TotalSteps, s.WarmupSteps))
	}
	if len(errs) > 0 {
		return fmt.Errorf("schedule: %w", errors.Join(errs...))
	}
	return nil
}

// LR is the learning rate for update number step (0-based): (step+1)/warmup ·
// peak during warmup, so the first update is never taken at lr 0, then
// min + (peak−min)·½(1 + cos(π·progress)) with progress running from 0 at the
// end of warmup to 1 at TotalSteps.
func (s Schedule) LR(step int) float64 {
	if step < s.WarmupSteps {
		return s.PeakLR * float64(step+1) / float64(s.WarmupSteps)
	}
	decay := s.TotalSteps - s.WarmupSteps
	if decay <= 0 || step >= s.TotalSteps {
		if decay <= 0 && step < s.TotalSteps {
			return s.PeakLR
		}
		return s.MinLR
	}
	progress := float64(step-s.WarmupSteps) / float64(decay)
	return s.MinLR + (s.PeakLR-s.MinLR)*0.5*(1+math.Cos(math.Pi*progress))
}
