package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsExposeRequestLatencyByVerbKindAndCode(t *testing.T) {
	a := startTestAPI(t)
	a.createPod("m")
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods", "", nil).want(t, http.StatusOK)
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods/m", "", nil).want(t, http.StatusOK)
	a.do(http.MethodGet, "/api/v1/namespaces/default/pods/none", "", nil).want(t, http.StatusNotFound)
	a.doAs("", http.MethodGet, "/api/v1/nodes", "", nil).want(t, http.StatusUnauthorized)
	w := a.openWatch("/api/v1/namespaces/default/pods?watch=true", nil)
	defer w.close()

	body := string(a.doAs("", http.MethodGet, metricsPath, "", nil).want(t, http.StatusOK).body)
	for _, want := range []string{
		`skiff_api_request_duration_seconds_bucket{code="201",kind="Pod",verb="create",le="`,
		`skiff_api_request_duration_seconds_count{code="200",kind="Pod",verb="list"}`,
		`skiff_api_request_duration_seconds_count{code="200",kind="Pod",verb="get"}`,
		`skiff_api_request_duration_seconds_count{code="404",kind="Pod",verb="get"}`,
		`skiff_api_request_duration_seconds_count{code="401",kind="Node",verb="list"}`,
		`skiff_api_long_running_requests{kind="Pod",verb="watch"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `verb="watch",le=`) {
		t.Error("a watch is in the latency histogram")
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func TestMetricsVerbLabelStaysBounded(t *testing.T) {
	a := startTestAPI(t)
	a.do("FROBNICATE", "/api/v1/namespaces/default/pods", "", nil)
	body := string(a.doAs("", http.MethodGet, metricsPath, "", nil).want(t, http.StatusOK).body)
	if strings.Contains(strings.ToLower(body), "frobnicate") {
		t.Fatal("an invented method became a label value")
	}
}
