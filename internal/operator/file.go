package operator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"rightsdesk/internal/config"
)

// maxFileSize bounds what an operators file may hold: thousands of
// operators, not a mistaken path to a log.
const maxFileSize = 4 << 20

// entry is one operator of the file, its keys checked for being settings.
type entry struct {
	slug     string
	values   map[string]string
	problems []string
}

// readFile reads the operators file at path:
//
//	operators:
//	  - slug: flextok
//	    BASE_URL: https://privacy.flextokxumare.kz
//	    ORG_NAME: Flextok Xumare
//	    PROMISED_DAYS: 30
func readFile(path string) ([]entry, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator's own file, named in its environment
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer func() { _ = f.Close() }() // read-only: nothing to flush
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxFileSize>>20)
	}
	return parse(b)
}

// parse reads the file's text; a key the file may not hold is a problem of
// its entry, so that every mistake is reported at once.
func parse(b []byte) ([]entry, error) {
	var doc struct {
		Operators []map[string]yaml.Node `yaml:"operators"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty (want a list under operators:)")
		}
		return nil, fmt.Errorf("not an operators file (want a list under operators:): %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	entries := make([]entry, 0, len(doc.Operators))
	for _, raw := range doc.Operators {
		e := entry{values: map[string]string{}}
		keys := make([]string, 0, len(raw))
		for k := range raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			node := raw[k]
			if node.Kind != yaml.ScalarNode {
				e.problems = append(e.problems, fmt.Sprintf("%s: want a single value (line %d)", k, node.Line))
				continue
			}
			switch {
			case k == "slug":
				e.slug = node.Value
			case slices.Contains(settings, k):
				e.values[k] = node.Value
			default:
				e.problems = append(e.problems, fmt.Sprintf("%s: unknown key (line %d): not a per-operator setting (rightsdesk help operator lists them)", k, node.Line))
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Add appends an operator to the operators file at path (rightsdesk
// operator add): slug with values, each a per-operator setting. The file
// with the new entry must be a valid operators file over env, the slug and
// the address the new operator's alone; on any mistake the file is left as
// it was. The file is written whole to a temporary file beside it and
// renamed over it, so no reader ever sees half of it. A file that does not
// exist yet is made, with the one operator.
func Add(path, slug string, values map[string]string, env config.Env) (*Set, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's own file, named in its environment
	mode := os.FileMode(0o600)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		b = []byte("operators: []\n")
	case err != nil:
		return nil, &config.Error{Var: "OPERATORS_FILE", Msg: fmt.Sprintf("cannot read %s: %v", path, err)}
	default:
		if info, err := os.Stat(path); err == nil {
			mode = info.Mode().Perm()
		}
	}
	if len(b) > maxFileSize {
		return nil, &config.Error{Var: "OPERATORS_FILE", Msg: fmt.Sprintf("%s is larger than %d MiB", path, maxFileSize>>20)}
	}
	out, err := appendEntry(b, slug, values)
	if err != nil {
		return nil, &config.Error{Var: "OPERATORS_FILE", Msg: err.Error()}
	}
	// What is written is checked as start-up will read it.
	entries, err := parse(out)
	if err != nil {
		return nil, &config.Error{Var: "OPERATORS_FILE", Msg: err.Error()}
	}
	set, err := build(entries, env)
	if err != nil {
		return nil, err
	}
	if err := replaceFile(path, out, mode); err != nil {
		return nil, &config.Error{Var: "OPERATORS_FILE", Msg: err.Error()}
	}
	return set, nil
}

// appendEntry adds an entry to the list under operators: of an operators
// file's text, keeping the rest of the document (its comments included).
func appendEntry(b []byte, slug string, values map[string]string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not an operators file (want a list under operators:): %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not an operators file (want a list under operators:)")
	}
	root := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "operators" {
			list = root.Content[i+1]
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, errors.New("not an operators file (want a list under operators:)")
	}
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	e := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	e.Content = append(e.Content, str("slug"), str(slug))
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.Content = append(e.Content, str(k), str(values[k]))
	}
	list.Content = append(list.Content, e)
	list.Style = 0 // "operators: []" becomes a block list
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("write the operators file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write the operators file: %w", err)
	}
	return out.Bytes(), nil
}

// replaceFile writes b to a temporary file in path's folder and renames it
// over path.
func replaceFile(path string, b []byte, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name()) // the file itself is untouched
		}
	}()
	if _, err = tmp.Write(b); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
