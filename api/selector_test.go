package api

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLabelSelectorMatches(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front", "env": "b", "has": "", "example.com/team": "a"}
	tests := []struct {
		give string
		want bool
	}{
		{give: "", want: true},
		{give: "  ", want: true},
		{give: "app=web", want: true},
		{give: "app==web", want: true},
		{give: "app=db", want: false},
		{give: "app!=db", want: true},
		{give: "missing!=x", want: true},
		{give: "tier!=front", want: false},
		{give: "env in (a,b)", want: true},
		{give: "env in (a, c)", want: false},
		{give: "missing in (a)", want: false},
		{give: "env notin (a,c)", want: true},
		{give: "missing notin (a)", want: true},
		{give: "env notin (b)", want: false},
		{give: "!legacy", want: true},
		{give: "!app", want: false},
		{give: "has", want: true},
		{give: "has=", want: true},
		{give: "missing", want: false},
		{give: "example.com/team=a", want: true},
		{give: "app=web,tier!=db,env in (a,b),!legacy,has", want: true},
		{give: "app=web,tier!=front", want: false},
		{give: " app = web , env in ( b ) ", want: true},
	}
	for _, tt := range tests {
		m, err := ParseLabelSelector(tt.give)
		if err != nil {
			t.Errorf("ParseLabelSelector(%q): %v", tt.give, err)
			continue
		}
		if got := m.Matches(labels); got != tt.want {
			t.Errorf("%q matches %v = %v, want %v", tt.give, labels, got, tt.want)
		}
	}
}

func TestParseLabelSelectorKeywordsAreValuesAfterOperators(t *testing.T) {
	m, err := ParseLabelSelector("a=in,b in (notin,in)")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Matches(map[string]string{"a": "in", "b": "notin"}) || m.Matches(map[string]string{"a": "in", "b": "x"}) {
		t.Fatalf("requirements = %+v", m.Requirements)
	}
}

func TestParseLabelSelectorErrorsNameTheTerm(t *testing.T) {
	tests := []struct {
		give       string
		wantTerm   string
		wantDetail string
	}{
		{give: "app=web,tier!=db!", wantTerm: "tier!=db!", wantDetail: "unexpected '!'"},
		{give: "app=web,", wantTerm: "", wantDetail: "expected a label key"},
		{give: ",app=web", wantTerm: "", wantDetail: "expected a label key"},
		{give: "env in (a,b", wantTerm: "env in (a,b", wantDetail: "expected ',' or ')'"},
		{give: "env in ()", wantTerm: "env in ()", wantDetail: "expected a value"},
		{give: "env in a", wantTerm: "env in a", wantDetail: "expected '('"},
		{give: "env notin", wantTerm: "env notin", wantDetail: "expected '('"},
		{give: "app web", wantTerm: "app web", wantDetail: "expected an operator"},
		{give: "!", wantTerm: "!", wantDetail: "'!' must be followed by a label key"},
		{give: "!=x", wantTerm: "!=x", wantDetail: "expected a label key"},
		{give: "bad key!=x", wantTerm: "bad key!=x", wantDetail: "expected an operator"},
		{give: "app=-web", wantTerm: "app=-web", wantDetail: "invalid label value"},
		{give: "app=" + strings.Repeat("a", 64), wantTerm: "app=" + strings.Repeat("a", 64), wantDetail: "invalid label value"},
		{give: "Bad_Prefix/app=x", wantTerm: "Bad_Prefix/app=x", wantDetail: "invalid label key"},
		{give: "app===x", wantTerm: "app===x", wantDetail: "expected a value after '=='"},
		{give: "in=x", wantTerm: "in=x", wantDetail: "expected a label key"},
		{give: "a=b,c in (x,y),d=(", wantTerm: "d=(", wantDetail: "expected a value"},
	}
	for _, tt := range tests {
		_, err := ParseLabelSelector(tt.give)
		var se *SelectorError
		if !errors.As(err, &se) {
			t.Errorf("ParseLabelSelector(%q) = %v, want a *SelectorError", tt.give, err)
			continue
		}
		if se.Term != tt.wantTerm || !strings.Contains(se.Detail, tt.wantDetail) {
			t.Errorf("ParseLabelSelector(%q): term %q detail %q, want term %q detail containing %q", tt.give, se.Term, se.Detail, tt.wantTerm, tt.wantDetail)
		}
	}
}

func TestLabelSelectorStringParsesBack(t *testing.T) {
	give := "app=web,tier!=db,env in (a,b),!legacy,has,x=,y notin (c)"
	m, err := ParseLabelSelector(give)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseLabelSelector(m.String())
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("String %q parses to %+v (%v), want %+v", m.String(), back, err, m)
	}
}

func TestParseFieldSelectorMatchesPods(t *testing.T) {
	pod := &Pod{ObjectMeta: ObjectMeta{Name: "x", Namespace: "y"}, Spec: PodSpec{NodeName: "n1"}, Status: PodStatus{Phase: PodRunning}}
	tests := []struct {
		give string
		want bool
	}{
		{give: "", want: true},
		{give: "spec.nodeName=n1,status.phase=Running,metadata.name=x,metadata.namespace=y", want: true},
		{give: "spec.nodeName==n1", want: true},
		{give: "spec.nodeName=n2", want: false},
		{give: "spec.nodeName!=n2", want: true},
		{give: "spec.nodeName!=n1", want: false},
		{give: "spec.nodeName=", want: false},
		{give: "status.phase!=Succeeded,status.phase!=Failed", want: true},
		{give: " metadata.name = x", want: false}, // the value keeps its spaces, as in Kubernetes
		{give: " metadata.name =x", want: true},
	}
	for _, tt := range tests {
		m, err := ParseFieldSelector(tt.give)
		if err != nil {
			t.Errorf("ParseFieldSelector(%q): %v", tt.give, err)
			continue
		}
		if got := m.Matches(pod); got != tt.want {
			t.Errorf("%q matches = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestFieldSelectorEscapes(t *testing.T) {
	m, err := ParseFieldSelector(`metadata.name=a\,b\=c\\d,spec.nodeName!=x`)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Requirements) != 2 || m.Requirements[0].Value != `a,b=c\d` {
		t.Fatalf("requirements = %+v", m.Requirements)
	}
	back, err := ParseFieldSelector(m.String())
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("String %q parses to %+v (%v)", m.String(), back, err)
	}
}

func TestParseFieldSelectorErrorsNameTheTerm(t *testing.T) {
	tests := []struct {
		give       string
		wantTerm   string
		wantDetail string
	}{
		{give: "status.phase", wantTerm: "status.phase", wantDetail: "no operator"},
		{give: "status.phase=Running,", wantTerm: "", wantDetail: "empty term"},
		{give: "=Running", wantTerm: "=Running", wantDetail: "missing field name"},
		{give: "status..phase=Running", wantTerm: "status..phase=Running", wantDetail: "empty path element"},
		{give: "status.ph-ase=Running", wantTerm: "status.ph-ase=Running", wantDetail: "letters and digits"},
		{give: `metadata.name=a\x`, wantTerm: `metadata.name=a\x`, wantDetail: "invalid escape"},
		{give: `metadata.name=a\`, wantTerm: `metadata.name=a\`, wantDetail: "unfinished escape"},
		{give: "metadata.name=a=b", wantTerm: "metadata.name=a=b", wantDetail: "unescaped '='"},
	}
	for _, tt := range tests {
		_, err := ParseFieldSelector(tt.give)
		var se *SelectorError
		if !errors.As(err, &se) {
			t.Errorf("ParseFieldSelector(%q) = %v, want a *SelectorError", tt.give, err)
			continue
		}
		if se.Term != tt.wantTerm || !strings.Contains(se.Detail, tt.wantDetail) {
			t.Errorf("ParseFieldSelector(%q): term %q detail %q, want term %q detail containing %q", tt.give, se.Term, se.Detail, tt.wantTerm, tt.wantDetail)
		}
	}
}

func TestFieldSelectorCheckKindNamesSupportedFields(t *testing.T) {
	pods, _ := LookupKind("Pod")
	nodes, _ := LookupKind("Node")
	m, err := ParseFieldSelector("spec.nodeName=n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckKind(pods); err != nil {
		t.Fatalf("pods: %v", err)
	}
	err = m.CheckKind(nodes)
	var se *SelectorError
	if !errors.As(err, &se) || se.Term != "spec.nodeName=n1" || !strings.Contains(se.Detail, "spec.unschedulable") {
		t.Fatalf("nodes: %v", err)
	}
	unsched, _ := ParseFieldSelector("spec.unschedulable=true")
	if !unsched.Matches(&Node{Spec: NodeSpec{Unschedulable: true}}) || unsched.Matches(&Node{}) {
		t.Fatal("spec.unschedulable does not select nodes")
	}
}

// FuzzParseLabelSelector: any input parses or fails with a *SelectorError,
// never panics; what parses prints back to a selector that parses to the
// same requirements. The seed corpus is in testdata/fuzz.
func FuzzParseLabelSelector(f *testing.F) {
	f.Add("app=web,tier!=db,env in (a,b),!legacy,has")
	f.Add("a in (in,notin),b notin (x)")
	f.Add("example.com/x==y")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseLabelSelector(s)
		if err != nil {
			var se *SelectorError
			if !errors.As(err, &se) || se.Detail == "" {
				t.Fatalf("ParseLabelSelector(%q) error %v is not a *SelectorError with a detail", s, err)
			}
			return
		}
		_ = m.Matches(map[string]string{"app": "web", "env": ""})
		back, err := ParseLabelSelector(m.String())
		if err != nil {
			t.Fatalf("%q parsed; its String %q does not: %v", s, m.String(), err)
		}
		if !reflect.DeepEqual(back.Requirements, m.Requirements) {
			t.Fatalf("%q: String %q parses to %+v, want %+v", s, m.String(), back.Requirements, m.Requirements)
		}
	})
}

// FuzzParseFieldSelector is FuzzParseLabelSelector for field selectors.
func FuzzParseFieldSelector(f *testing.F) {
	f.Add("spec.nodeName=n1,status.phase=Running,metadata.name=x,metadata.namespace=y")
	f.Add(`metadata.name!=a\,b\=c\\`)
	f.Add("status.phase==Running")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseFieldSelector(s)
		if err != nil {
			var se *SelectorError
			if !errors.As(err, &se) || se.Detail == "" {
				t.Fatalf("ParseFieldSelector(%q) error %v is not a *SelectorError with a detail", s, err)
			}
			return
		}
		_ = m.Matches(&Pod{})
		back, err := ParseFieldSelector(m.String())
		if err != nil {
			t.Fatalf("%q parsed; its String %q does not: %v", s, m.String(), err)
		}
		if !reflect.DeepEqual(back.Requirements, m.Requirements) {
			t.Fatalf("%q: String %q parses to %+v, want %+v", s, m.String(), back.Requirements, m.Requirements)
		}
	})
}
