package job

import (
	"errors"
	"fmt"
	"math"
)

// Budget is how many dead letters a job may have before it fails: more
// than MaxDeadLetters, or, once MinHandled events were handled, a share
// of them over MaxRatio. Nil fields take the defaults.
type Budget struct {
	MaxDeadLetters *int64   `yaml:"max_dead_letters,omitempty"`
	MaxRatio       *float64 `yaml:"max_ratio,omitempty"`
}

// Budget defaults: a job fails after 1,000 dead letters, or when more than
// 1% of at least 100 handled events were dead-lettered.
const (
	DefaultMaxDeadLetters = 1000
	DefaultMaxRatio       = 0.01
	MinHandled            = 100
)

// Limits are the budget with its defaults filled in.
func (b Budget) Limits() (maxDeadLetters int64, maxRatio float64) {
	maxDeadLetters, maxRatio = DefaultMaxDeadLetters, DefaultMaxRatio
	if b.MaxDeadLetters != nil {
		maxDeadLetters = *b.MaxDeadLetters
	}
	if b.MaxRatio != nil {
		maxRatio = *b.MaxRatio
	}
	return maxDeadLetters, maxRatio
}

// Over says how dead letters out of handled events exceed the budget,
// or "" when they do not.
func (b Budget) Over(deadLetters, handled int64) string {
	maxN, maxRatio := b.Limits()
	switch {
	case deadLetters > maxN:
		return fmt.Sprintf("%d dead letters, over budget.max_dead_letters %d", deadLetters, maxN)
	case handled >= MinHandled && float64(deadLetters) > maxRatio*float64(handled):
		return fmt.Sprintf("%d dead letters of %d handled events (%.1f%%), over budget.max_ratio %g",
			deadLetters, handled, 100*float64(deadLetters)/float64(handled), maxRatio)
	}
	return ""
}

func (b Budget) validate() error {
	var errs []error
	if b.MaxDeadLetters != nil && *b.MaxDeadLetters < 0 {
		errs = append(errs, fmt.Errorf("budget.max_dead_letters: want >= 0, got %d", *b.MaxDeadLetters))
	}
	if r := b.MaxRatio; r != nil && (*r < 0 || *r > 1 || math.IsNaN(*r)) {
		errs = append(errs, fmt.Errorf("budget.max_ratio: want 0 to 1, got %v", *r))
	}
	return errors.Join(errs...)
}
