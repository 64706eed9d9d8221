package main

import (
	"slices"
	"strings"
	"testing"
)

func TestCompletionScriptsForEveryShell(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "bash completion V2 for skiff",
		"zsh":        "#compdef skiff",
		"fish":       "complete -c skiff",
		"powershell": "Register-ArgumentCompleter",
	} {
		out, _, err := runCLI(t, "", "completion", shell)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("completion %s: %v, output without %q", shell, err, want)
		}
	}
	if _, _, err := runCLI(t, "", "completion", "tcsh"); err == nil || !strings.Contains(err.Error(), "use bash, zsh, fish or powershell") {
		t.Errorf("completion tcsh: %v", err)
	}
}

// complete asks the command tree for completions of the last word, as
// the shell scripts do, and returns them.
func (e *cliEnv) complete(words ...string) []string {
	e.t.Helper()
	args := append([]string{"__complete", words[0], "--server=" + e.server}, words[1:]...)
	out, _, err := runCLI(e.t, "", args...)
	if err != nil {
		e.t.Fatalf("__complete %v: %v", words, err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(l, ":") {
			got = append(got, strings.SplitN(l, "\t", 2)[0])
		}
	}
	return got
}

func TestCompletionOfKindsAndNamesFromTheAPI(t *testing.T) {
	e := startCLIEnv(t)
	e.put(webDeployment("web"))
	e.put(webDeployment("api"))
	e.createNamespace("shop")

	kinds := e.complete("get", "")
	for _, k := range []string{"pods", "po", "deployments", "deploy", "cronjobs", "cj", "quota"} {
		if !slices.Contains(kinds, k) {
			t.Errorf("get <TAB> = %v, missing %s", kinds, k)
		}
	}
	if got := e.complete("describe", "deploy", ""); !slices.Equal(got, []string{"api", "web"}) {
		t.Errorf("describe deploy <TAB> = %v", got)
	}
	if got := e.complete("delete", "deploy/w"); !slices.Equal(got, []string{"deploy/web"}) {
		t.Errorf("delete deploy/w<TAB> = %v", got)
	}
	if got := e.complete("scale", ""); slices.Contains(got, "pods") || !slices.Contains(got, "deployments") {
		t.Errorf("scale <TAB> = %v", got)
	}
	if got := e.complete("rollout", "status", "deployment", ""); !slices.Equal(got, []string{"api", "web"}) {
		t.Errorf("rollout status deployment <TAB> = %v", got)
	}
	if got := e.complete("get", "pods", "-n", ""); !slices.Contains(got, "shop") {
		t.Errorf("-n <TAB> = %v", got)
	}
	if got := e.complete("delete", "deploy", "web", "--cascade", ""); !slices.Equal(got, []string{"background", "foreground", "orphan"}) {
		t.Errorf("--cascade <TAB> = %v", got)
	}
}
