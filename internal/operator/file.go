package operator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
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
