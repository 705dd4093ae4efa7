package run

import "errors"

// ErrInvalid marks an error of a job that cannot run as given: its source
// cannot be built from what the spec says (an unreadable or bad id list, a
// kind this build lacks). It is the caller's mistake, not a service's: the
// HTTP API answers it with 400. The error's text is the cause's.
var ErrInvalid = errors.New("run: the job cannot run as given")

// invalid marks err as ErrInvalid, keeping its text and its chain.
func invalid(err error) error { return invalidError{err} }

type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{e.err, ErrInvalid} }

// Invalid marks err as ErrInvalid for a caller outside this package that
// refuses a job as run would (a plan of it).
func Invalid(err error) error { return invalid(err) }
