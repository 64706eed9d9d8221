package scheduler

import "time"

// Observer hears of every scheduling attempt, for metrics: its result and
// how long the decision and the bind took. It is called from the
// scheduling loop: it must be cheap and must not block.
type Observer interface {
	ScheduleAttempt(result string, d time.Duration)
}

// Results of a scheduling attempt.
const (
	// ResultBound: the pod was bound to a node.
	ResultBound = "bound"
	// ResultUnschedulable: no node fits the pod now.
	ResultUnschedulable = "unschedulable"
	// ResultError: a node fit but the bind could not be written.
	ResultError = "error"
)

func (s *Scheduler) observe(result string, start time.Time) {
	if s.opts.Observer != nil {
		s.opts.Observer.ScheduleAttempt(result, time.Since(start))
	}
}
