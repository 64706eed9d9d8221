package api

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
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

// maxSizeLabelSelector is a label selector at every bound at once: as long
// as allowed, with the most requirements and one set of the most values.
func maxSizeLabelSelector() string {
	var b strings.Builder
	b.WriteString("set in (")
	for i := range MaxSelectorValues {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "v%d", i)
	}
	b.WriteByte(')')
	for i := 1; i < MaxSelectorRequirements; i++ {
		fmt.Fprintf(&b, ",key-%d=value-%d", i, i)
	}
	// Pad the last value up to the length bound.
	pad := MaxSelectorBytes - b.Len()
	b.WriteString(strings.Repeat("x", min(pad, 40)))
	for b.Len() < MaxSelectorBytes {
		b.WriteByte(' ')
	}
	return b.String()
}

func TestSelectorsAtTheirBoundsParse(t *testing.T) {
	s := maxSizeLabelSelector()
	if len(s) != MaxSelectorBytes {
		t.Fatalf("test selector is %d bytes, want %d", len(s), MaxSelectorBytes)
	}
	m, err := ParseLabelSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Requirements) != MaxSelectorRequirements || len(m.Requirements[0].Values) != MaxSelectorValues {
		t.Fatalf("parsed %d requirements, %d values in the set", len(m.Requirements), len(m.Requirements[0].Values))
	}
	fields := make([]string, MaxSelectorRequirements)
	for i := range fields {
		fields[i] = "metadata.name!=n" + strconv.Itoa(i)
	}
	if _, err := ParseFieldSelector(strings.Join(fields, ",")); err != nil {
		t.Fatal(err)
	}
}

func TestSelectorsOverABoundAreRefused(t *testing.T) {
	values := make([]string, MaxSelectorValues+1)
	for i := range values {
		values[i] = "v" + strconv.Itoa(i)
	}
	labelTerms := make([]string, MaxSelectorRequirements+1)
	fieldTerms := make([]string, MaxSelectorRequirements+1)
	for i := range labelTerms {
		labelTerms[i] = "k" + strconv.Itoa(i)
		fieldTerms[i] = "metadata.name!=n" + strconv.Itoa(i)
	}
	tests := []struct {
		name, give string
		field      bool
		want       string
	}{
		{name: "label too long", give: "app=" + strings.Repeat("a", MaxSelectorBytes), want: "at most 10240 are allowed"},
		{name: "field too long", give: "metadata.name=" + strings.Repeat("a", MaxSelectorBytes), field: true, want: "at most 10240 are allowed"},
		{name: "too many label terms", give: strings.Join(labelTerms, ","), want: "more than 100 requirements"},
		{name: "too many field terms", give: strings.Join(fieldTerms, ","), field: true, want: "more than 100 requirements"},
		{name: "too many values", give: "app in (" + strings.Join(values, ",") + ")", want: "more than 1000 values"},
		{name: "too many repeated values", give: "app notin (" + strings.Repeat("a,", MaxSelectorValues) + "a)", want: "more than 1000 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.field {
				_, err = ParseFieldSelector(tt.give)
			} else {
				_, err = ParseLabelSelector(tt.give)
			}
			var se *SelectorError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a SelectorError saying %q", err, tt.want)
			}
		})
	}
}

func TestLabelSetKeepsFirstOrderWithoutRepeats(t *testing.T) {
	m, err := ParseLabelSelector("app in (b,a,b,c,a)")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Requirements[0].Values; !reflect.DeepEqual(got, []string{"b", "a", "c"}) {
		t.Fatalf("values = %v", got)
	}
}

// BenchmarkParseMaxSizeLabelSelector measures the worst selector a request
// may carry. Before the bounds and the set-based dedup, a 530 KB selector
// took 21 s of CPU.
func BenchmarkParseMaxSizeLabelSelector(b *testing.B) {
	s := maxSizeLabelSelector()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := ParseLabelSelector(s); err != nil {
			b.Fatal(err)
		}
	}
}
