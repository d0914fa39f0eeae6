package webapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// obj describes, for OpenAPI, a JSON object a handler builds as a
// map[string]any: each key's sample value (a struct, a slice, a string, a
// nested obj…) gives the key's schema. Every key is required unless it
// ends in "?". A []obj (or []any) sample with one element describes an
// array of that element.
type obj map[string]any

// anyOf describes an answer that takes one of several shapes (a user as
// an administrator sees it, or as others do).
type anyOf []any

// refusalAnswer marks an answer type also sent with 400 (a bulk request
// refused as a whole), so that OpenAPI lists it under 400 besides the error.
type refusalAnswer interface{ sentOnRefusal() }

// schemas derives JSON schemas from the Go values handlers encode, by
// reflection, as encoding/json writes them: json tags, omitempty, embedded
// structs, pointers, slices, maps and time.Time. Named structs become
// components (#/components/schemas/Name), so each type is described once.
type schemas struct {
	components map[string]any          // name → schema
	names      map[reflect.Type]string // named struct type → component name
	taken      map[string]reflect.Type
}

func newSchemas() *schemas {
	return &schemas{components: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	objType       = reflect.TypeFor[obj]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// of returns the schema of a sample value.
func (s *schemas) of(v any) map[string]any {
	switch v := v.(type) {
	case obj:
		return s.object(v)
	case anyOf:
		alts := make([]any, len(v))
		for i, alt := range v {
			alts[i] = s.of(alt)
		}
		return map[string]any{"anyOf": alts}
	case []obj:
		if len(v) == 1 {
			return map[string]any{"type": "array", "items": s.object(v[0])}
		}
	case []any:
		if len(v) == 1 {
			return map[string]any{"type": "array", "items": s.of(v[0])}
		}
	case nil:
		return map[string]any{}
	}
	return s.typ(reflect.TypeOf(v))
}

func (s *schemas) object(sh obj) map[string]any {
	props := map[string]any{}
	var required []string
	for key, v := range sh {
		name, optional := strings.CutSuffix(key, "?")
		sc := s.of(v)
		if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
			sc = nullable(sc) // a nil pointer is written as null
		}
		props[name] = sc
		if !optional {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

// typ returns the schema of a Go type.
func (s *schemas) typ(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t == objType:
		// An obj's keys are known only from a value: an untyped object,
		// which TestOpenAPITypedResponses refuses.
		return map[string]any{"type": "object"}
	}
	if t.Kind() != reflect.Pointer && (t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType)) {
		return map[string]any{"description": fmt.Sprintf("as %v encodes itself", t)}
	}
	if t.Kind() != reflect.Pointer && (t.Implements(textType) || reflect.PointerTo(t).Implements(textType)) {
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Int64, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Pointer:
		return s.typ(t.Elem())
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": s.typ(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.typ(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return s.structObject(t)
		}
		return s.ref(t)
	}
	return map[string]any{} // encoding/json refuses the rest (channels, functions)
}

// ref returns a reference to the component describing a named struct,
// adding it on first use.
func (s *schemas) ref(t reflect.Type) map[string]any {
	name, ok := s.names[t]
	if !ok {
		name = componentName(t.Name())
		for i := 2; s.taken[name] != nil; i++ {
			name = fmt.Sprintf("%s%d", componentName(t.Name()), i)
		}
		s.names[t], s.taken[name] = name, t
		s.components[name] = map[string]any{} // a placeholder for recursive types
		s.components[name] = s.structObject(t)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

var nonNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// componentName turns a Go type name (userJSON, v2Page, page[int]) into a
// component name (User, V2Page, Page_int).
func componentName(goName string) string {
	n := strings.TrimSuffix(goName, "JSON")
	if n == "" {
		n = goName
	}
	n = strings.Trim(nonNameChars.ReplaceAllString(n, "_"), "_")
	r := []rune(n)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// field is one JSON member of a struct.
type field struct {
	name      string
	typ       reflect.Type
	omitEmpty bool
	asString  bool
	nullable  bool
	depth     int
}

// structObject describes a struct as encoding/json writes it.
func (s *schemas) structObject(t reflect.Type) map[string]any {
	fields := jsonFields(t, 0, nil)
	props := map[string]any{}
	var required []string
	for _, f := range fields {
		var sc map[string]any
		switch {
		case f.asString:
			sc = map[string]any{"type": "string"}
		default:
			sc = s.typ(f.typ)
		}
		// encoding/json writes null for a nil pointer unless omitempty
		// drops it; a slice or map field a handler may leave nil says so
		// with the tag openapi:"nullable" (most are made non-nil).
		if !f.omitEmpty && f.nullable {
			sc = nullable(sc)
		}
		props[f.name] = sc
		if !f.omitEmpty {
			required = append(required, f.name)
		}
	}
	out := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		slices.Sort(required)
		out["required"] = required
	}
	return out
}

// nullable marks a schema as also admitting null; a reference cannot carry
// siblings in OpenAPI 3.0, so it is wrapped.
func nullable(sc map[string]any) map[string]any {
	if _, isRef := sc["$ref"]; isRef {
		sc = map[string]any{"allOf": []any{sc}}
	}
	sc["nullable"] = true
	return sc
}

// jsonFields lists the struct's JSON members with encoding/json's rules
// for embedded structs: a shallower name wins, same-depth duplicates
// cancel out (ignored here: Gatehouse's answer types have none).
func jsonFields(t reflect.Type, depth int, seen map[string]bool) []field {
	if seen == nil {
		seen = map[string]bool{}
	}
	var out, embedded []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, field{typ: et, depth: depth + 1})
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		optList := strings.Split(opts, ",")
		k := ft.Kind()
		out = append(out, field{
			name: name, typ: ft, depth: depth,
			omitEmpty: slices.Contains(optList, "omitempty") || slices.Contains(optList, "omitzero"),
			asString:  slices.Contains(optList, "string"),
			nullable:  k == reflect.Pointer || (k == reflect.Slice || k == reflect.Map) && sf.Tag.Get("openapi") == "nullable",
		})
	}
	for _, e := range embedded {
		out = append(out, jsonFields(e.typ, e.depth, seen)...)
	}
	return out
}
