package deadline

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileSize bounds the policy and calendar files: they are a few
// kilobytes, and a bound keeps a wrong path (a log file) from being read
// whole.
const maxFileSize = 1 << 20

// readYAML parses one YAML document into a node tree.
func readYAML(r io.Reader) (doc *yaml.Node, err error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	// yaml.v3 has panicked on malformed input before (CVE-2022-28948);
	// a bad operator file must be an error, never a crash.
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, fmt.Errorf("invalid YAML: %v", p)
		}
	}()
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if n.Kind == 0 {
		return nil, errors.New("empty file")
	}
	return n.Content[0], nil
}

// fields checks that n is a mapping with only the allowed keys, each at
// most once, and returns the values by key. path names n in errors.
func fields(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s (line %d): want a mapping of %s", orTop(path), n.Line, strings.Join(allowed, ", "))
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		key := k.Value
		if k.Kind != yaml.ScalarNode || !slices.Contains(allowed, key) {
			return nil, fmt.Errorf("%s (line %d): unknown key %q: want %s", orTop(path), k.Line, key, strings.Join(allowed, ", "))
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s (line %d): key %q given twice", orTop(path), k.Line, key)
		}
		out[key] = n.Content[i+1]
	}
	return out, nil
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalar decodes a scalar node into v (a string, int or bool).
func scalar(n *yaml.Node, path string, v any) error {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s (line %d): want a single value", path, n.Line)
	}
	if err := n.Decode(v); err != nil {
		return fmt.Errorf("%s (line %d): %q is not a %s", path, n.Line, n.Value, kindName(v))
	}
	return nil
}

func kindName(v any) string {
	switch v.(type) {
	case *int:
		return "whole number"
	case *bool:
		return "boolean (true or false)"
	}
	return "string"
}

// sequence returns the items of a sequence node.
func sequence(n *yaml.Node, path string) ([]*yaml.Node, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s (line %d): want a list", path, n.Line)
	}
	return n.Content, nil
}
