package runtimes

import "sync"

// Exit is a task's end as drivers keep it: set once, handed to every
// waiter (Driver.Wait's contract: one ExitResult, then the channel
// closes), and read by Inspect. The zero value is not usable; use NewExit.
type Exit struct {
	mu      sync.Mutex
	res     *ExitResult
	waiters []chan *ExitResult
	done    chan struct{}
}

// NewExit returns an Exit that has not happened yet.
func NewExit() *Exit { return &Exit{done: make(chan struct{})} }

// Finish records res and wakes every waiter. Only the first call counts;
// it reports whether this one did.
func (e *Exit) Finish(res *ExitResult) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res != nil {
		return false
	}
	e.res = res
	for _, ch := range e.waiters {
		r := *res
		ch <- &r
		close(ch)
	}
	e.waiters = nil
	close(e.done)
	return true
}

// Wait returns a channel that receives a copy of the result once, then
// closes.
func (e *Exit) Wait() <-chan *ExitResult {
	ch := make(chan *ExitResult, 1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res != nil {
		r := *e.res
		ch <- &r
		close(ch)
		return ch
	}
	e.waiters = append(e.waiters, ch)
	return ch
}

// Done is closed once the task has exited.
func (e *Exit) Done() <-chan struct{} { return e.done }

// Result is a copy of the result, or nil while the task runs.
func (e *Exit) Result() *ExitResult {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.res == nil {
		return nil
	}
	r := *e.res
	return &r
}
