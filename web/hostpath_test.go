package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

// hostPathSpec is a pod spec with an emptyDir and a hostPath of the
// node's root, as JSON.
const hostPathSpec = `{"volumes":[{"name":"scratch","emptyDir":{}},{"name":"host","hostPath":{"path":"/"}}],` +
	`"containers":[{"name":"c","image":"busybox:1","volumeMounts":[{"name":"host","mountPath":"/host"}]}]}`

func hostPathObject(kind, name string) []byte {
	tmpl := `{"metadata":{"labels":{"app":%q}},"spec":` + hostPathSpec + `}`
	sel := `"selector":{"matchLabels":{"app":%q}}`
	switch kind {
	case "Pod":
		return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":`+hostPathSpec+`}`, name)
	case "Deployment", "ReplicaSet", "DaemonSet":
		return fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":%q,"metadata":{"name":%q},"spec":{`+sel+`,"template":`+tmpl+`}}`, kind, name, name, name)
	case "Job":
		return fmt.Appendf(nil, `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":%q},"spec":{"template":`+
			strings.Replace(tmpl, `"spec":{`, `"spec":{"restartPolicy":"Never",`, 1)+`}}`, name, name)
	case "CronJob":
		return fmt.Appendf(nil, `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":%q},"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":`+
			strings.Replace(tmpl, `"spec":{`, `"spec":{"restartPolicy":"Never",`, 1)+`}}}}`, name, name)
	}
	panic("no hostPath object for kind " + kind)
}

func collectionPath(kind, ns string) string {
	info, ok := api.LookupKind(kind)
	if !ok {
		panic(kind)
	}
	prefix := "/api/v1"
	if info.Group != "" {
		prefix = "/apis/" + info.Group + "/v1"
	}
	return prefix + "/namespaces/" + ns + "/" + info.Resource
}

// Only an admin token of all namespaces writes hostPath volumes, in pods
// or in any pod template: others get 403 naming the field, and nothing is
// stored.
func TestHostPathTakesAnAdminTokenOfAllNamespaces(t *testing.T) {
	f := startAuthFixture(t)
	fields := map[string]string{
		"Pod":        "spec.volumes[1].hostPath",
		"Deployment": "spec.template.spec.volumes[1].hostPath",
		"ReplicaSet": "spec.template.spec.volumes[1].hostPath",
		"DaemonSet":  "spec.template.spec.volumes[1].hostPath",
		"Job":        "spec.template.spec.volumes[1].hostPath",
		"CronJob":    "spec.jobTemplate.spec.template.spec.volumes[1].hostPath",
	}
	for kind, field := range fields {
		for _, token := range []string{"edit-a", "edit", "admin-a"} {
			t.Run(kind+" by "+token, func(t *testing.T) {
				name := strings.ToLower(kind) + "-" + token
				path := collectionPath(kind, "team-a")
				st := f.doAs(f.tokens[token], http.MethodPost, path, "application/json", hostPathObject(kind, name)).
					want(t, http.StatusForbidden).status(t)
				if st.Reason != api.StatusReasonForbidden || !strings.Contains(st.Message, field) || !strings.Contains(st.Message, "admin token of all namespaces") {
					t.Errorf("403 = %+v, want it to name %s and what it takes", st, field)
				}
				if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Field != field || st.Details.Causes[0].Type != api.ErrTypeForbidden {
					t.Errorf("details = %+v, want one FieldValueForbidden cause for %s", st.Details, field)
				}
				f.doAs(f.admin, http.MethodGet, path+"/"+name, "", nil).want(t, http.StatusNotFound)
			})
		}
		t.Run(kind+" by admin", func(t *testing.T) {
			f.doAs(f.admin, http.MethodPost, collectionPath(kind, "team-a"), "application/json", hostPathObject(kind, strings.ToLower(kind)+"-admin")).
				want(t, http.StatusCreated)
		})
	}
}

// A replace or patch that brings in a hostPath is refused like a create;
// one that leaves an administrator's pod spec alone (labels, replicas)
// passes, and one that changes it (the image) does not.
func TestHostPathUpdatesByOthersAreRefusedUnlessTheSpecStaysTheSame(t *testing.T) {
	f := startAuthFixture(t)
	edit := f.tokens["edit-a"]
	deploys := collectionPath("Deployment", "team-a")
	f.doAs(f.admin, http.MethodPost, deploys, "application/json", hostPathObject("Deployment", "host")).want(t, http.StatusCreated)

	merge := func(token, path, patch string) response {
		t.Helper()
		return f.doAs(token, http.MethodPatch, path, "application/merge-patch+json", []byte(patch))
	}
	merge(edit, deploys+"/host", `{"metadata":{"labels":{"team":"a"}},"spec":{"replicas":3}}`).want(t, http.StatusOK)
	st := merge(edit, deploys+"/host", `{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"evil:1","volumeMounts":[{"name":"host","mountPath":"/host"}]}]}}}}`).
		want(t, http.StatusForbidden).status(t)
	if !strings.Contains(st.Message, "spec.template.spec.volumes[1].hostPath") {
		t.Errorf("403 = %+v", st)
	}

	// A pod without hostPath gets one by replace, or by patch.
	pods := collectionPath("Pod", "team-a")
	f.doAs(edit, http.MethodPost, pods, "application/json",
		[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"plain"},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}`)).want(t, http.StatusCreated)
	f.doAs(edit, http.MethodPut, pods+"/plain", "application/json", hostPathObject("Pod", "plain")).want(t, http.StatusForbidden)
	merge(edit, pods+"/plain", `{"spec":{"volumes":[{"name":"host","hostPath":{"path":"/"}}]}}`).want(t, http.StatusForbidden)
	got := f.doAs(f.admin, http.MethodGet, pods+"/plain", "", nil).want(t, http.StatusOK).pod(t)
	if len(got.Spec.Volumes) != 0 {
		t.Errorf("stored pod has volumes %+v", got.Spec.Volumes)
	}
}
