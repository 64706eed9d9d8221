package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Decode reads one YAML or JSON document into a new object of the kind the
// document names. Unknown fields and wrongly typed values are FieldErrors
// naming every bad path; a document that is not YAML, has no kind or names
// an unknown kind is a *DecodeError.
func Decode(doc []byte) (Object, error) {
	js, err := toJSON(doc)
	if err != nil {
		return nil, err
	}
	var tm TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, &DecodeError{Reason: "InvalidObject", Msg: "the document is not an object with apiVersion and kind"}
	}
	if tm.Kind == "" {
		return nil, &DecodeError{Reason: "MissingKind", Msg: "kind: required (one of " + strings.Join(KindNames(), ", ") + ")"}
	}
	info, ok := LookupKind(tm.Kind)
	if !ok || info.Kind != tm.Kind {
		return nil, &DecodeError{Reason: "UnknownKind", Msg: fmt.Sprintf("kind: %q is not a kind Skiff serves (one of %s)", tm.Kind, strings.Join(KindNames(), ", "))}
	}
	if tm.APIVersion != info.APIVersion() {
		return nil, FieldErrors{{Field: "apiVersion", Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not supported for kind %s (use %q)", tm.APIVersion, info.Kind, info.APIVersion())}}
	}
	obj := info.New()
	if err := decodeStrictJSON(js, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeInto reads one YAML or JSON document strictly into obj, whose type
// fixes the kind; apiVersion and kind may be omitted but must match if given.
func DecodeInto(doc []byte, obj Object) error {
	js, err := toJSON(doc)
	if err != nil {
		return err
	}
	if err := decodeStrictJSON(js, obj); err != nil {
		return err
	}
	info := KindOf(obj)
	tm := obj.GetTypeMeta()
	var errs FieldErrors
	if tm.Kind != "" && tm.Kind != info.Kind {
		errs = append(errs, FieldError{Field: "kind", Type: ErrTypeInvalid, Detail: fmt.Sprintf("%q does not match %s", tm.Kind, info.Kind)})
	}
	if tm.APIVersion != "" && tm.APIVersion != info.APIVersion() {
		errs = append(errs, FieldError{Field: "apiVersion", Type: ErrTypeNotSupported, Detail: fmt.Sprintf("%q is not supported for kind %s (use %q)", tm.APIVersion, info.Kind, info.APIVersion())})
	}
	return errs.OrNil()
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// SplitDocuments splits a multi-document YAML stream at "---" lines and
// drops documents that hold only whitespace and comments.
func SplitDocuments(stream []byte) [][]byte {
	var out [][]byte
	for _, d := range docSeparator.Split(string(stream), -1) {
		empty := true
		for _, line := range strings.Split(d, "\n") {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if !empty {
			out = append(out, []byte(d))
		}
	}
	return out
}

func toJSON(doc []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) == 0 {
		return nil, &DecodeError{Reason: "EmptyDocument", Msg: "the document is empty"}
	}
	if trimmed[0] == '{' {
		if !json.Valid(trimmed) {
			var v any
			err := json.Unmarshal(trimmed, &v)
			return nil, &DecodeError{Reason: "InvalidJSON", Msg: "invalid JSON: " + err.Error()}
		}
		return trimmed, nil
	}
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, &DecodeError{Reason: "InvalidYAML", Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")}
	}
	if len(js) == 0 || js[0] != '{' {
		return nil, &DecodeError{Reason: "InvalidObject", Msg: "the document is not an object (expected apiVersion, kind, metadata, spec)"}
	}
	return js, nil
}

// decodeStrictJSON checks the document against obj's type (unknown fields,
// wrong JSON types, each with its path), then decodes it.
func decodeStrictJSON(js []byte, obj any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return &DecodeError{Reason: "InvalidJSON", Msg: "invalid JSON: " + err.Error()}
	}
	var errs FieldErrors
	checkValue(reflect.TypeOf(obj), generic, "", &errs)
	if len(errs) > 0 {
		return errs
	}
	if err := json.Unmarshal(js, obj); err != nil {
		var te *json.UnmarshalTypeError
		if ok := asTypeError(err, &te); ok {
			return FieldErrors{invalid(te.Field, "expected %s, got %s", te.Type, te.Value)}
		}
		return FieldErrors{invalid("", "%v", err)}
	}
	return nil
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

var (
	timeType      = reflect.TypeOf(time.Time{})
	unmarshalerTy = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
)

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// checkValue walks a generic JSON value alongside the Go type it will be
// decoded into and records unknown fields and type mismatches.
func checkValue(t reflect.Type, v any, path string, errs *FieldErrors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null is the zero value for every type
	}
	if t == timeType {
		if s, ok := v.(string); !ok {
			*errs = append(*errs, invalid(path, "expected an RFC 3339 time string"))
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			*errs = append(*errs, invalid(path, "expected an RFC 3339 time string, got %q", s))
		}
		return
	}
	if reflect.PointerTo(t).Implements(unmarshalerTy) {
		if err := json.Unmarshal(mustMarshal(v), reflect.New(t).Interface()); err != nil {
			*errs = append(*errs, invalid(path, "%v", err))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			*errs = append(*errs, invalid(path, "expected an object, got %s", jsonKind(v)))
			return
		}
		fields := structFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, FieldError{Field: join(path, k), Type: ErrTypeUnknown, Detail: "unknown field"})
				continue
			}
			checkValue(ft, m[k], join(path, k), errs)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			*errs = append(*errs, invalid(path, "expected an object, got %s", jsonKind(v)))
			return
		}
		for k, e := range m {
			checkValue(t.Elem(), e, fmt.Sprintf("%s[%s]", path, k), errs)
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			*errs = append(*errs, invalid(path, "expected a list, got %s", jsonKind(v)))
			return
		}
		for i, e := range a {
			checkValue(t.Elem(), e, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			*errs = append(*errs, invalid(path, "expected a string, got %s", jsonKind(v)))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			*errs = append(*errs, invalid(path, "expected true or false, got %s", jsonKind(v)))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			*errs = append(*errs, invalid(path, "expected an integer, got %s", jsonKind(v)))
			return
		}
		if _, err := n.Int64(); err != nil {
			*errs = append(*errs, invalid(path, "expected an integer, got %s", n))
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			*errs = append(*errs, invalid(path, "expected a number, got %s", jsonKind(v)))
		}
	}
}

// structFields maps JSON names to field types, flattening embedded structs
// the way encoding/json does.
func structFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			for k, v := range structFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return "a boolean"
	case json.Number:
		return "number " + x.String()
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
