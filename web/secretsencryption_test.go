package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/api"
)

func TestSecretThroughTheAPIIsEncryptedAtRestAndReturnedUnchanged(t *testing.T) {
	a := startTestAPI(t)
	a.createNamespace("team-a")
	const password = "s3cr3t-Pa55w0rd-for-the-db"
	body := []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"type":"Opaque",` +
		`"data":{"password":"` + base64.StdEncoding.EncodeToString([]byte(password)) + `"},"stringData":{"user":"admin-user-x"}}`)
	created := a.do(http.MethodPost, "/api/v1/namespaces/team-a/secrets", "application/json", body).want(t, http.StatusCreated)

	e, err := a.store.KV().Get(t.Context(), "secrets.team-a.db")
	if err != nil {
		t.Fatal(err)
	}
	raw := e.Value()
	if !bytes.HasPrefix(raw, []byte("skiff:enc:aesgcm:v1:")) {
		t.Fatalf("the stored Secret is %.80q, want an aesgcm envelope", raw)
	}
	for _, leak := range []string{password, base64.StdEncoding.EncodeToString([]byte(password)), "admin-user-x", base64.StdEncoding.EncodeToString([]byte("admin-user-x"))} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Fatalf("the stored Secret contains %q", leak)
		}
	}

	got := a.do(http.MethodGet, "/api/v1/namespaces/team-a/secrets/db", "", nil).want(t, http.StatusOK)
	var s api.Secret
	if err := json.Unmarshal(got.body, &s); err != nil {
		t.Fatal(err)
	}
	if string(s.Data["password"]) != password || string(s.Data["user"]) != "admin-user-x" || s.Type != api.SecretTypeOpaque {
		t.Fatalf("get = %s", got.body)
	}
	var c api.Secret
	if err := json.Unmarshal(created.body, &c); err != nil {
		t.Fatal(err)
	}
	if c.ResourceVersion != s.ResourceVersion || c.UID != s.UID {
		t.Fatalf("create answered %s, get %s", created.body, got.body)
	}
	list := a.do(http.MethodGet, "/api/v1/secrets", "", nil).want(t, http.StatusOK)
	if !strings.Contains(string(list.body), base64.StdEncoding.EncodeToString([]byte(password))) {
		t.Fatalf("list = %s, want the Secret's data", list.body)
	}
}

func TestSecretsEncryptionStatusAndRotation(t *testing.T) {
	a := startTestAPI(t)
	a.createNamespace("team-a")
	for _, n := range []string{"one", "two"} {
		a.do(http.MethodPost, "/api/v1/namespaces/team-a/secrets", "application/json",
			[]byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"`+n+`"},"stringData":{"k":"v"}}`)).want(t, http.StatusCreated)
	}
	var st api.SecretsEncryptionStatus
	r := a.do(http.MethodGet, api.SecretsEncryptionPath, "", nil).want(t, http.StatusOK)
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Kind != "SecretsEncryptionStatus" || st.Provider != api.SecretsEncryptionProvider || st.Total != 2 || len(st.Keys) != 1 || st.Keys[0].Secrets != 2 || !st.Keys[0].Write {
		t.Fatalf("status = %s", r.body)
	}
	if strings.Contains(string(r.body), "secret\"") {
		t.Fatalf("status shows key material: %s", r.body)
	}

	var rot api.SecretsEncryptionRotation
	r = a.do(http.MethodPost, api.SecretsEncryptionRotatePath, "", nil).want(t, http.StatusOK)
	if err := json.Unmarshal(r.body, &rot); err != nil {
		t.Fatal(err)
	}
	if rot.NewKey == st.Keys[0].ID || len(rot.RemovedKeys) != 1 || rot.RemovedKeys[0] != st.Keys[0].ID || rot.Reencrypted != 2 ||
		len(rot.Status.Keys) != 1 || rot.Status.Keys[0].ID != rot.NewKey || rot.Status.Keys[0].Secrets != 2 {
		t.Fatalf("rotation = %s (before: %s)", r.body, st.Keys[0].ID)
	}
	a.do(http.MethodGet, "/api/v1/namespaces/team-a/secrets/one", "", nil).want(t, http.StatusOK)

	// Bad requests are refused before anything changes.
	for _, tt := range []struct {
		method, path, ct string
		body             []byte
		want             int
		msg              string
	}{
		{http.MethodPost, api.SecretsEncryptionRotatePath, "application/json", []byte(`{"key":"mine"}`), http.StatusBadRequest, "takes no body"},
		{http.MethodPost, api.SecretsEncryptionRotatePath + "?dryRun=true", "", nil, http.StatusBadRequest, "no query parameters"},
		{http.MethodGet, api.SecretsEncryptionRotatePath, "", nil, http.StatusMethodNotAllowed, ""},
		{http.MethodPost, api.SecretsEncryptionPath, "", nil, http.StatusMethodNotAllowed, ""},
	} {
		r := a.do(tt.method, tt.path, tt.ct, tt.body).want(t, tt.want)
		if st := r.status(t); !strings.Contains(st.Message, tt.msg) {
			t.Errorf("%s %s: message %q, want %q", tt.method, tt.path, st.Message, tt.msg)
		}
	}
	var after api.SecretsEncryptionStatus
	r = a.do(http.MethodGet, api.SecretsEncryptionPath, "", nil).want(t, http.StatusOK)
	if err := json.Unmarshal(r.body, &after); err != nil {
		t.Fatal(err)
	}
	if len(after.Keys) != 1 || after.Keys[0].ID != rot.NewKey {
		t.Fatalf("a refused request changed the keyring: %s", r.body)
	}
}
