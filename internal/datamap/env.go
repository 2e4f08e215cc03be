package datamap

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Env looks a variable up: os.LookupEnv in production, a map in tests.
type Env func(name string) (string, bool)

// ErrUnset says a variable the map names is not set.
var ErrUnset = errors.New("not set")

// Secret reads the variable name, or the file named by name_FILE (Docker
// and Kubernetes secrets); both at once is refused, so there is no doubt
// which one holds. The error names the variable, never its value.
func Secret(env Env, name string) (string, error) {
	get := func(n string) string {
		v, _ := env(n)
		return strings.TrimSpace(v)
	}
	v, path := get(name), get(name+"_FILE")
	switch {
	case v != "" && path != "":
		return "", fmt.Errorf("%s: set either %s or %s_FILE, not both", name, name, name)
	case path != "":
		b, err := os.ReadFile(path) // #nosec G304 -- the operator names this file (*_FILE variables); reading it is the point
		if err != nil {
			return "", fmt.Errorf("%s_FILE: cannot read %s: %w", name, path, errors.Unwrap(err))
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("%s_FILE: %s is empty", name, path)
	case v != "":
		return v, nil
	}
	return "", fmt.Errorf("%s (or %s_FILE): %w", name, name, ErrUnset)
}

// CheckEnv looks up every variable the map names. Problems stop start: a
// database without its read credentials, an HTTP system without its URL or
// secret. Warnings name what only the changes need (change credentials, the
// hash key): without them gathering works and those steps fail, each with
// its reason, until they are set.
func (m *Map) CheckEnv(env Env) (problems, warnings []string) {
	need := func(line int, where, key, name, waits string) {
		if name == "" {
			return
		}
		if _, err := Secret(env, name); err != nil {
			msg := fmt.Sprintf("%s: %s%s: %v", m.Where(line), where, key, err)
			if waits == "" {
				problems = append(problems, msg)
			} else {
				warnings = append(warnings, msg+"; "+waits+" until it is set")
			}
		}
	}
	for _, s := range m.Systems {
		where := "system " + s.Name + ": "
		switch s.Kind {
		case Postgres, MySQL:
			need(s.Line, where, "read_url_env", s.ReadURLEnv, "")
			need(s.Line, where, "change_url_env", s.ChangeURLEnv, "its erasure, rectification, restriction and consent withdrawal wait")
		case HTTP:
			need(s.Line, where, "url_env", s.URLEnv, "")
			need(s.Line, where, "secret_env", s.SecretEnv, "")
		}
	}
	need(m.hashKeyLine, "", "hash_key_env", m.HashKeyEnv, "keyed-hash erasure waits")
	return problems, warnings
}
