package web

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/api"
)

func TestListsWaitForASlotInsteadOfFailing(t *testing.T) {
	a := startTestAPI(t, func(o *Options) { o.MaxListsInFlight = 1 })
	a.createPod("p")
	var wg sync.WaitGroup
	codes := make([]int, 10)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = a.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", nil).code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("list %d: %d", i, c)
		}
	}
}

func TestAListWaitingForASlotEndsWhenItsClientLeaves(t *testing.T) {
	a := startTestAPI(t, func(o *Options) { o.MaxListsInFlight = 1 })
	a.srv.lists <- struct{}{} // every slot taken
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/api/v1/namespaces/default/pods", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(api.AuthorizationHeader, api.BearerPrefix+a.admin)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("a list got %d while every slot was taken", res.StatusCode)
	}
	<-a.srv.lists
	// The slot the abandoned list did not take is free.
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", nil).want(t, http.StatusOK)
	if n := len(a.srv.lists); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
}
