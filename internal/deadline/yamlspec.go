package deadline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the policy and calendar files: they are a few
// kilobytes, and a bound keeps a wrong path (a log file) from being read
// whole.
const maxFileSize = 1 << 20

// decodeStrict decodes one YAML document into v, a pointer to one of the
// spec structs below, refusing keys the struct does not name. Errors are
// one line that names the line and the key or value at fault.
func decodeStrict(r io.Reader, v any) (err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if len(data) > maxFileSize {
		return fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	// yaml.v3 has panicked on malformed input before (CVE-2022-28948);
	// a bad operator file must be an error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid YAML: %v", p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(v)
	var te *yaml.TypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty file")
	case errors.As(err, &te):
		return errors.New(typeErrorLine(te))
	case err != nil && strings.HasPrefix(err.Error(), "yaml: line"):
		return fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return err
}

// The shapes of yaml.v3's type errors (yaml.TypeError.Errors).
var (
	reUnknownField = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	reDuplicateKey = regexp.MustCompile(`^line (\d+): mapping key "(.*)" already defined at line (\d+)$`)
	reWrongKind    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// typeErrorLine words the first of yaml.v3's type errors for an operator:
// the line, the key or value, and what was wanted there.
func typeErrorLine(te *yaml.TypeError) string {
	if len(te.Errors) == 0 {
		return "invalid YAML"
	}
	msg := te.Errors[0]
	if m := reUnknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: unknown key %q: want %s", m[1], m[2], strings.Join(specKeys(m[3]), ", "))
	}
	if m := reDuplicateKey.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: key %q given twice (first on line %s)", m[1], m[2], m[3])
	}
	if m := reWrongKind.FindStringSubmatch(msg); m != nil {
		want := wantOf(m[4])
		if m[3] != "" {
			return fmt.Sprintf("line %s: %q: want %s", m[1], m[3], want)
		}
		return fmt.Sprintf("line %s: want %s", m[1], want)
	}
	return msg
}

// specTypes are the structs a file is decoded into, by the name yaml.v3
// gives them in its errors.
var specTypes = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, v := range []any{policySpec{}, overrideSpec{}, promiseSpec{}, extensionSpec{}, typesSpec{},
		calendarSpec{}, fixedSpec{}, movingSpec{}, yearSpec{}} {
		t := reflect.TypeOf(v)
		m[t.String()] = t
	}
	return m
}()

// specKeys lists the keys a spec struct accepts, inline fields included.
func specKeys(typeName string) []string {
	t, ok := specTypes[typeName]
	if !ok {
		return []string{"nothing else here"}
	}
	return structKeys(t)
}

func structKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case opts == "inline":
			keys = append(keys, structKeys(f.Type)...)
		case name != "" && name != "-":
			keys = append(keys, name)
		}
	}
	return keys
}

// wantOf says what a Go type expects, for an error message.
func wantOf(typeName string) string {
	if t, ok := specTypes[strings.TrimPrefix(typeName, "*")]; ok {
		return "a mapping of " + strings.Join(structKeys(t), ", ")
	}
	switch {
	case strings.HasPrefix(typeName, "[]"):
		return "a list"
	case strings.HasPrefix(typeName, "map["):
		return "a mapping"
	case strings.HasSuffix(typeName, "int"):
		return "a whole number"
	case strings.HasSuffix(typeName, "bool"):
		return "true or false"
	}
	return "a single value"
}

// scalarAt returns a scalar node's text, or an error naming its line when
// the node is a list or a mapping; what names the value in that error.
func scalarAt(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("line %d: %s: want a single value", n.Line, what)
	}
	return n.Value, nil
}
