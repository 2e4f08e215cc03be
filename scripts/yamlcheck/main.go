// Command yamlcheck checks that YAML files parse, for machines without
// `docker compose`. A file with a top-level "services" key is also checked as
// a Compose file: every service has an image or a build, and every service it
// depends on exists.
//
//	go run ./scripts/yamlcheck docker-compose.yml
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"gopkg.in/yaml.v3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: yamlcheck file.yml...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty file")
		}
		return err
	}
	services, ok := doc["services"]
	if !ok {
		return nil
	}
	return checkCompose(services)
}

func checkCompose(v any) error {
	services, ok := v.(map[string]any)
	if !ok || len(services) == 0 {
		return errors.New("services: want a mapping of service names")
	}
	names := make([]string, 0, len(services))
	for name := range services {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		svc, ok := services[name].(map[string]any)
		if !ok {
			return fmt.Errorf("services.%s: want a mapping", name)
		}
		_, image := svc["image"]
		_, build := svc["build"]
		if !image && !build {
			return fmt.Errorf("services.%s: needs image or build", name)
		}
		var deps []string
		switch d := svc["depends_on"].(type) {
		case nil:
		case []any:
			for _, x := range d {
				s, ok := x.(string)
				if !ok {
					return fmt.Errorf("services.%s.depends_on: want service names", name)
				}
				deps = append(deps, s)
			}
		case map[string]any:
			for s := range d {
				deps = append(deps, s)
			}
		default:
			return fmt.Errorf("services.%s.depends_on: want a list or a mapping", name)
		}
		for _, dep := range deps {
			if _, ok := services[dep]; !ok {
				return fmt.Errorf("services.%s.depends_on: no service %q", name, dep)
			}
		}
	}
	return nil
}
