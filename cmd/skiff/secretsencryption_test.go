package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/web/client"
)

func TestSecretsEncryptionStatusAndRotate(t *testing.T) {
	startAuthCLIEnv(t)
	for _, n := range []string{"a", "b"} {
		manifest := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: " + n + "\n  namespace: default\nstringData:\n  k: v\n"
		if _, errOut, err := runCLI(t, manifest, "apply", "-f", "-"); err != nil {
			t.Fatalf("apply secret %s: %v %s", n, err, errOut)
		}
	}
	out, _, err := runCLI(t, "", "secrets-encryption", "status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^(k[0-9a-f]{8})\s+encrypt, decrypt\s+2\s`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "provider: aesgcm/v1, 2 Secrets") {
		t.Fatalf("status = %q, want the write key with 2 Secrets", out)
	}
	oldKey := m[1]

	out, _, err = runCLI(t, "", "secrets-encryption", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	m = regexp.MustCompile(`^new key (k[0-9a-f]{8}); 2 Secrets re-encrypted; removed keys: ` + oldKey + "\n").FindStringSubmatch(out)
	if m == nil || strings.Contains(out, oldKey+" ") {
		t.Fatalf("rotate = %q, want a new key, 2 re-encrypted, %s removed", out, oldKey)
	}
	if !regexp.MustCompile(`(?m)^` + m[1] + `\s+encrypt, decrypt\s+2\s`).MatchString(out) {
		t.Fatalf("rotate = %q, want the new key's status", out)
	}

	if _, _, err := runCLI(t, "", "secrets-encryption", "rotate", "now"); err == nil || !strings.Contains(err.Error(), "unknown command") && !strings.Contains(err.Error(), "accepts 0 arg") {
		t.Fatalf("rotate with an argument: %v", err)
	}
	tok, _, err := runCLI(t, "", "token", "create", "--role", "edit")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(client.EnvToken, strings.TrimSpace(tok))
	_, _, err = runCLI(t, "", "secrets-encryption", "rotate")
	if !client.IsForbidden(err) || !strings.Contains(err.Error(), "admin token of all namespaces") {
		t.Fatalf("rotate with an edit token: %v, want forbidden saying an admin token is needed", err)
	}
}
