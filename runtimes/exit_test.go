package runtimes

import "testing"

func TestExitReachesEveryWaiterOnceAndOnlyTheFirstCounts(t *testing.T) {
	e := NewExit()
	before := e.Wait()
	if e.Result() != nil {
		t.Fatal("result before the exit")
	}
	if !e.Finish(&ExitResult{ExitCode: 3}) || e.Finish(&ExitResult{ExitCode: 4}) {
		t.Fatal("only the first Finish may count")
	}
	after := e.Wait()
	for _, ch := range []<-chan *ExitResult{before, after} {
		r, ok := <-ch
		if !ok || r.ExitCode != 3 {
			t.Fatalf("waiter got %+v, %v; want exit code 3", r, ok)
		}
		if _, open := <-ch; open {
			t.Fatal("a waiter's channel stays open after the result")
		}
	}
	select {
	case <-e.Done():
	default:
		t.Fatal("Done not closed after Finish")
	}
	if r := e.Result(); r == nil || r.ExitCode != 3 {
		t.Fatalf("Result = %+v", r)
	}
}
