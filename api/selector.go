package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Label and field selectors as they appear in list and watch requests
// (?labelSelector=app=web,tier!=db and ?fieldSelector=status.phase=Running),
// with Kubernetes' syntax and meaning. Parsing never panics: every problem is
// a *SelectorError naming the term at fault.

// SelectorError is a selector that does not parse: Term is the
// comma-separated term at fault ("" when no term can be singled out, as
// for a selector over a bound), Detail what is wrong with it.
type SelectorError struct {
	Term   string
	Detail string
}

func (e *SelectorError) Error() string {
	if e.Term == "" {
		return e.Detail
	}
	return fmt.Sprintf("term %q: %s", e.Term, e.Detail)
}

// Bounds on a selector, so that a request cannot make the server parse and
// match an arbitrarily large one (a list or watch evaluates the selector
// on every object of its kind). Kubernetes bounds selectors only through
// the URL length; these are tighter and stated.
const (
	// MaxSelectorBytes is the longest selector string accepted.
	MaxSelectorBytes = 10 << 10
	// MaxSelectorRequirements is the most comma-separated terms a label or
	// field selector may have.
	MaxSelectorRequirements = 100
	// MaxSelectorValues is the most values one "in (…)" or "notin (…)"
	// set may list.
	MaxSelectorValues = 1000
)

// checkSelectorSize refuses a selector longer than MaxSelectorBytes.
func checkSelectorSize(s string) error {
	if len(s) > MaxSelectorBytes {
		return &SelectorError{Detail: fmt.Sprintf("the selector is %d bytes long; at most %d are allowed: select with fewer or shorter terms", len(s), MaxSelectorBytes)}
	}
	return nil
}

func tooManyRequirements() error {
	return &SelectorError{Detail: fmt.Sprintf("the selector has more than %d requirements; at most %d are allowed: combine values with \"key in (a,b)\" or select less", MaxSelectorRequirements, MaxSelectorRequirements)}
}

// LabelOperator is how a label requirement compares.
type LabelOperator string

// Label selector operators.
const (
	LabelEquals       LabelOperator = "="
	LabelNotEquals    LabelOperator = "!="
	LabelIn           LabelOperator = "in"
	LabelNotIn        LabelOperator = "notin"
	LabelExists       LabelOperator = "exists"
	LabelDoesNotExist LabelOperator = "!"
)

// LabelRequirement is one term of a label selector.
type LabelRequirement struct {
	Key      string
	Operator LabelOperator
	// Values has one value for = and !=, one or more for in and notin,
	// none for exists and !.
	Values []string
}

// Matches reports whether labels satisfy the requirement. As in
// Kubernetes, != and notin are satisfied by a missing label.
func (r LabelRequirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case LabelEquals:
		return ok && v == r.Values[0]
	case LabelNotEquals:
		return !ok || v != r.Values[0]
	case LabelIn:
		return ok && slices.Contains(r.Values, v)
	case LabelNotIn:
		return !ok || !slices.Contains(r.Values, v)
	case LabelExists:
		return ok
	case LabelDoesNotExist:
		return !ok
	}
	return false
}

func (r LabelRequirement) String() string {
	switch r.Operator {
	case LabelEquals, LabelNotEquals:
		return r.Key + string(r.Operator) + r.Values[0]
	case LabelIn, LabelNotIn:
		return r.Key + " " + string(r.Operator) + " (" + strings.Join(r.Values, ",") + ")"
	case LabelDoesNotExist:
		return "!" + r.Key
	}
	return r.Key
}

// LabelMatcher is a parsed label selector: every requirement must hold.
// The zero value matches everything.
type LabelMatcher struct {
	Requirements []LabelRequirement
}

// Empty reports whether the selector matches everything.
func (m LabelMatcher) Empty() bool { return len(m.Requirements) == 0 }

// Matches reports whether labels satisfy every requirement.
func (m LabelMatcher) Matches(labels map[string]string) bool {
	for _, r := range m.Requirements {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// String is the selector in the syntax ParseLabelSelector reads.
func (m LabelMatcher) String() string {
	parts := make([]string, len(m.Requirements))
	for i, r := range m.Requirements {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseLabelSelector reads a label selector: comma-separated terms, each
// one of
//
//	key=value  key==value  key!=value
//	key in (v1,v2)  key notin (v1,v2)
//	key  !key
//
// Keys are label keys (an optional DNS-subdomain prefix and '/', then a
// name of at most 63 characters); values are label values, possibly empty.
// Spaces around tokens are ignored. An empty selector matches everything.
//
// A selector may be at most MaxSelectorBytes long, with at most
// MaxSelectorRequirements terms and MaxSelectorValues values in a set.
func ParseLabelSelector(s string) (LabelMatcher, error) {
	p := labelParser{lex: labelLexer{s: s}}
	var m LabelMatcher
	if err := checkSelectorSize(s); err != nil {
		return m, err
	}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for {
		if len(m.Requirements) == MaxSelectorRequirements {
			return LabelMatcher{}, tooManyRequirements()
		}
		start := p.lex.skipSpace()
		r, err := p.requirement()
		if err != nil {
			return LabelMatcher{}, &SelectorError{Term: termAt(s, start), Detail: err.Error()}
		}
		m.Requirements = append(m.Requirements, r)
		tok := p.lex.next()
		switch tok.kind {
		case tokEOF:
			return m, nil
		case tokComma:
			continue
		default:
			return LabelMatcher{}, &SelectorError{Term: termAt(s, start), Detail: fmt.Sprintf("unexpected %s after the requirement; separate terms with ','", tok)}
		}
	}
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokEquals    // =
	tokDoubleEq  // ==
	tokNotEquals // !=
	tokBang      // !
	tokLParen
	tokRParen
	tokComma
	tokIn
	tokNotIn
)

type token struct {
	kind tokenKind
	text string
}

// isValue reports whether t can be a label value: in value positions the
// words "in" and "notin" are plain values, as in Kubernetes.
func (t token) isValue() bool {
	return t.kind == tokIdent || t.kind == tokIn || t.kind == tokNotIn
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of selector"
	case tokIdent:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// labelLexer splits a label selector into tokens. An identifier is any run
// of characters that are neither spaces nor one of = ! ( ) ,; the
// identifiers "in" and "notin" are operators.
type labelLexer struct {
	s   string
	pos int
}

func (l *labelLexer) skipSpace() int {
	for l.pos < len(l.s) && isSelectorSpace(l.s[l.pos]) {
		l.pos++
	}
	return l.pos
}

func isSelectorSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isLabelSpecial(c byte) bool {
	return c == '=' || c == '!' || c == '(' || c == ')' || c == ','
}

func (l *labelLexer) next() token {
	l.skipSpace()
	if l.pos >= len(l.s) {
		return token{kind: tokEOF}
	}
	c := l.s[l.pos]
	two := ""
	if l.pos+1 < len(l.s) {
		two = l.s[l.pos : l.pos+2]
	}
	switch {
	case two == "==":
		l.pos += 2
		return token{kind: tokDoubleEq, text: two}
	case two == "!=":
		l.pos += 2
		return token{kind: tokNotEquals, text: two}
	case c == '=':
		l.pos++
		return token{kind: tokEquals, text: "="}
	case c == '!':
		l.pos++
		return token{kind: tokBang, text: "!"}
	case c == '(':
		l.pos++
		return token{kind: tokLParen, text: "("}
	case c == ')':
		l.pos++
		return token{kind: tokRParen, text: ")"}
	case c == ',':
		l.pos++
		return token{kind: tokComma, text: ","}
	}
	start := l.pos
	for l.pos < len(l.s) && !isSelectorSpace(l.s[l.pos]) && !isLabelSpecial(l.s[l.pos]) {
		l.pos++
	}
	text := l.s[start:l.pos]
	switch text {
	case "in":
		return token{kind: tokIn, text: text}
	case "notin":
		return token{kind: tokNotIn, text: text}
	}
	return token{kind: tokIdent, text: text}
}

// peek returns the next token without consuming it.
func (l *labelLexer) peek() token {
	save := l.pos
	t := l.next()
	l.pos = save
	return t
}

type labelParser struct {
	lex labelLexer
}

func (p *labelParser) requirement() (LabelRequirement, error) {
	tok := p.lex.next()
	switch tok.kind {
	case tokBang:
		key := p.lex.next()
		if key.kind != tokIdent {
			return LabelRequirement{}, fmt.Errorf("'!' must be followed by a label key, not %s", key)
		}
		if err := checkSelectorKey(key.text); err != nil {
			return LabelRequirement{}, err
		}
		return LabelRequirement{Key: key.text, Operator: LabelDoesNotExist}, nil
	case tokIdent:
	default:
		return LabelRequirement{}, fmt.Errorf("expected a label key or '!', found %s", tok)
	}
	key := tok.text
	if err := checkSelectorKey(key); err != nil {
		return LabelRequirement{}, err
	}
	op := p.lex.peek()
	switch op.kind {
	case tokEOF, tokComma:
		return LabelRequirement{Key: key, Operator: LabelExists}, nil
	case tokEquals, tokDoubleEq, tokNotEquals:
		p.lex.next()
		value := ""
		switch v := p.lex.peek(); {
		case v.isValue():
			p.lex.next()
			value = v.text
		case v.kind == tokEOF, v.kind == tokComma:
		default:
			return LabelRequirement{}, fmt.Errorf("expected a value after %s, found %s", op, v)
		}
		if err := checkSelectorValue(value); err != nil {
			return LabelRequirement{}, err
		}
		o := LabelEquals
		if op.kind == tokNotEquals {
			o = LabelNotEquals
		}
		return LabelRequirement{Key: key, Operator: o, Values: []string{value}}, nil
	case tokIn, tokNotIn:
		p.lex.next()
		values, err := p.valueSet()
		if err != nil {
			return LabelRequirement{}, fmt.Errorf("%s: %w", op.text, err)
		}
		o := LabelIn
		if op.kind == tokNotIn {
			o = LabelNotIn
		}
		return LabelRequirement{Key: key, Operator: o, Values: values}, nil
	}
	return LabelRequirement{}, fmt.Errorf("expected an operator (=, ==, !=, in, notin) or ',' after key %q, found %s", key, op)
}

// valueSet reads "(v1, v2, …)": at most MaxSelectorValues values,
// repeated ones dropped (kept in their first order).
func (p *labelParser) valueSet() ([]string, error) {
	if t := p.lex.next(); t.kind != tokLParen {
		return nil, fmt.Errorf("expected '(' to open the list of values, found %s", t)
	}
	var values []string
	seen := map[string]bool{}
	for n := 1; ; n++ {
		if n > MaxSelectorValues {
			return nil, fmt.Errorf("more than %d values; at most %d are allowed in one set", MaxSelectorValues, MaxSelectorValues)
		}
		t := p.lex.next()
		if !t.isValue() {
			return nil, fmt.Errorf("expected a value, found %s", t)
		}
		if err := checkSelectorValue(t.text); err != nil {
			return nil, err
		}
		if !seen[t.text] {
			seen[t.text] = true
			values = append(values, t.text)
		}
		switch t := p.lex.next(); t.kind {
		case tokComma:
		case tokRParen:
			return values, nil
		default:
			return nil, fmt.Errorf("expected ',' or ')' after a value, found %s", t)
		}
	}
}

func checkSelectorKey(k string) error {
	if err := validateLabelKey(k); err != nil {
		return fmt.Errorf("invalid label key %q: %v", k, err)
	}
	return nil
}

func checkSelectorValue(v string) error {
	if len(v) > 63 || !labelValue.MatchString(v) {
		return fmt.Errorf("invalid label value %q: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v)
	}
	return nil
}

// termAt is the term of a label selector that starts at start: up to the
// next ',' outside parentheses.
func termAt(s string, start int) string {
	depth := 0
	for i := start; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				return strings.TrimSpace(s[start:i])
			}
		}
	}
	return strings.TrimSpace(s[start:])
}

// FieldOperator is how a field requirement compares.
type FieldOperator string

// Field selector operators.
const (
	FieldEquals    FieldOperator = "="
	FieldNotEquals FieldOperator = "!="
)

// FieldRequirement is one term of a field selector.
type FieldRequirement struct {
	Field    string
	Operator FieldOperator
	Value    string
}

// FieldMatcher is a parsed field selector: every requirement must hold.
// The zero value matches everything.
type FieldMatcher struct {
	Requirements []FieldRequirement
}

// Empty reports whether the selector matches everything.
func (m FieldMatcher) Empty() bool { return len(m.Requirements) == 0 }

// Matches reports whether obj's selectable fields (ObjectFields) satisfy
// every requirement. A field the object's kind does not have never equals
// anything; CheckKind refuses such selectors before they are used.
func (m FieldMatcher) Matches(obj Object) bool {
	if m.Empty() {
		return true
	}
	return m.MatchesFields(ObjectFields(obj))
}

// MatchesFields is Matches over fields already extracted.
func (m FieldMatcher) MatchesFields(fields map[string]string) bool {
	for _, r := range m.Requirements {
		v, ok := fields[r.Field]
		switch r.Operator {
		case FieldEquals:
			if !ok || v != r.Value {
				return false
			}
		case FieldNotEquals:
			if ok && v == r.Value {
				return false
			}
		}
	}
	return true
}

// CheckKind refuses fields that objects of kind cannot be selected by,
// naming the ones that can.
func (m FieldMatcher) CheckKind(kind KindInfo) error {
	if m.Empty() || kind.New == nil {
		return nil
	}
	fields := ObjectFields(kind.New())
	for _, r := range m.Requirements {
		if _, ok := fields[r.Field]; !ok {
			return &SelectorError{
				Term:   r.String(),
				Detail: fmt.Sprintf("field label %q is not supported for %s (supported: %s)", r.Field, kind.Kind, strings.Join(SelectableFields(kind), ", ")),
			}
		}
	}
	return nil
}

func (r FieldRequirement) String() string {
	return r.Field + string(r.Operator) + escapeFieldValue(r.Value)
}

// String is the selector in the syntax ParseFieldSelector reads.
func (m FieldMatcher) String() string {
	parts := make([]string, len(m.Requirements))
	for i, r := range m.Requirements {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

func escapeFieldValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `,`, `\,`, `=`, `\=`)
	return r.Replace(v)
}

// ParseFieldSelector reads a field selector: comma-separated terms
// field=value, field==value or field!=value. In a value, '\' escapes
// ',', '=' and '\'. An empty selector matches everything. Which fields a
// kind can be selected by is checked by FieldMatcher.CheckKind. A selector
// may be at most MaxSelectorBytes long, with at most MaxSelectorRequirements
// terms.
func ParseFieldSelector(s string) (FieldMatcher, error) {
	var m FieldMatcher
	if err := checkSelectorSize(s); err != nil {
		return m, err
	}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	terms := splitUnescaped(s, ',')
	if len(terms) > MaxSelectorRequirements {
		return FieldMatcher{}, tooManyRequirements()
	}
	for _, term := range terms {
		r, err := parseFieldTerm(term)
		if err != nil {
			return FieldMatcher{}, &SelectorError{Term: strings.TrimSpace(term), Detail: err.Error()}
		}
		m.Requirements = append(m.Requirements, r)
	}
	return m, nil
}

// splitUnescaped splits s at every sep not preceded by an escaping '\'.
func splitUnescaped(s string, sep byte) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip the escaped character
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func parseFieldTerm(term string) (FieldRequirement, error) {
	if strings.TrimSpace(term) == "" {
		return FieldRequirement{}, fmt.Errorf("empty term: write field=value, field==value or field!=value between commas")
	}
	// The operator is the first unescaped '=' (with a '!' or '=' around it).
	for i := 0; i < len(term); i++ {
		switch term[i] {
		case '\\':
			i++
			continue
		case '!':
			if i+1 < len(term) && term[i+1] == '=' {
				return fieldRequirement(term[:i], FieldNotEquals, term[i+2:])
			}
		case '=':
			return fieldRequirement(term[:i], FieldEquals, strings.TrimPrefix(term[i+1:], "="))
		}
	}
	return FieldRequirement{}, fmt.Errorf("no operator: write field=value, field==value or field!=value")
}

func fieldRequirement(field string, op FieldOperator, rawValue string) (FieldRequirement, error) {
	field = strings.TrimSpace(field)
	if err := checkFieldName(field); err != nil {
		return FieldRequirement{}, err
	}
	value, err := unescapeFieldValue(rawValue)
	if err != nil {
		return FieldRequirement{}, err
	}
	return FieldRequirement{Field: field, Operator: op, Value: value}, nil
}

// checkFieldName accepts dotted paths of letters and digits
// ("status.phase"), the shape of every selectable field.
func checkFieldName(f string) error {
	if f == "" {
		return fmt.Errorf("missing field name before the operator")
	}
	for _, part := range strings.Split(f, ".") {
		if part == "" {
			return fmt.Errorf("field %q has an empty path element", f)
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return fmt.Errorf("field %q may only have letters and digits between dots", f)
			}
		}
	}
	return nil
}

func unescapeFieldValue(v string) (string, error) {
	if !strings.ContainsAny(v, `\=`) {
		return v, nil
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\\':
			if i+1 >= len(v) {
				return "", fmt.Errorf("value %q ends in an unfinished escape '\\'", v)
			}
			i++
			switch v[i] {
			case '\\', ',', '=':
				b.WriteByte(v[i])
			default:
				return "", fmt.Errorf("value %q has an invalid escape '\\%c': only \\\\, \\, and \\= are allowed", v, v[i])
			}
		case '=':
			return "", fmt.Errorf("value %q has an unescaped '=': write \\=", v)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// ObjectFields are the fields an object can be selected by with a field
// selector, with their values: metadata.name and metadata.namespace for
// every kind, and for pods, nodes and events the fields Kubernetes offers
// for them.
func ObjectFields(obj Object) map[string]string {
	m := obj.GetObjectMeta()
	f := map[string]string{"metadata.name": m.Name, "metadata.namespace": m.Namespace}
	switch o := obj.(type) {
	case *Pod:
		f["spec.nodeName"] = o.Spec.NodeName
		f["spec.restartPolicy"] = string(o.Spec.RestartPolicy)
		f["spec.runtimeClassName"] = o.Spec.RuntimeClassName
		f["status.phase"] = string(o.Status.Phase)
		f["status.hostIP"] = o.Status.HostIP
	case *Node:
		f["spec.unschedulable"] = strconv.FormatBool(o.Spec.Unschedulable)
	case *Event:
		f["involvedObject.kind"] = o.InvolvedObject.Kind
		f["involvedObject.namespace"] = o.InvolvedObject.Namespace
		f["involvedObject.name"] = o.InvolvedObject.Name
		f["involvedObject.uid"] = o.InvolvedObject.UID
		f["involvedObject.apiVersion"] = o.InvolvedObject.APIVersion
		f["involvedObject.resourceVersion"] = o.InvolvedObject.ResourceVersion
		f["reason"] = o.Reason
		f["type"] = o.Type
		f["source"] = o.Source.Component
		f["reportingComponent"] = o.ReportingController
	}
	return f
}

// SelectableFields lists, sorted, the fields a kind's objects can be
// selected by.
func SelectableFields(kind KindInfo) []string {
	if kind.New == nil {
		return nil
	}
	var out []string
	for f := range ObjectFields(kind.New()) {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}
