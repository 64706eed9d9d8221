package web

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A quota created through the API binds the very next pod create, although
// admission reads quotas from the server's watched cache: the create is
// answered only once the cache holds it.
func TestAQuotaCreatedThroughTheAPIBindsTheNextPodAtOnce(t *testing.T) {
	a := startTestAPI(t)
	deadline := time.Now().Add(5 * time.Second)
	for !a.srv.quotas.HasSynced() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the cache syncs right after Start
	}
	if !a.srv.quotas.HasSynced() {
		t.Fatal("the quota cache never synced")
	}
	for i := 0; i < 20; i++ {
		ns := fmt.Sprintf("q%d", i)
		a.createNamespace(ns)
		quota := fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"none"},"spec":{"hard":{"pods":"0"}}}`)
		a.do(http.MethodPost, "/api/v1/namespaces/"+ns+"/resourcequotas", "application/json", quota).want(t, http.StatusCreated)
		a.do(http.MethodPost, "/api/v1/namespaces/"+ns+"/pods", "application/yaml", podDoc("p")).want(t, http.StatusForbidden)
	}
	if got := len(a.srv.quotas.List("", nil)); got != 20 {
		t.Fatalf("the cache holds %d quotas, want 20", got)
	}
}
