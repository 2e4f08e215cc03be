// Command yamlcheck checks that YAML files parse, for machines without
// `docker compose` or a Kubernetes cluster. Every document of a file
// (documents are separated by "---") must parse. A document with a top-level
// "services" key is also checked as a Compose file: every service has an
// image or a build, and every service it depends on exists. A document with
// a "kind" key is checked as a Kubernetes object: it has apiVersion, kind and
// metadata.name.
//
//	go run ./scripts/yamlcheck docker-compose.yml deploy/k8s/*.yaml
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
	data, err := os.ReadFile(path) // #nosec G304 G703 -- checks the file its caller names, by design
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	docs := 0
	for n := 1; ; n++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
		if doc == nil {
			continue // an empty document, e.g. after a trailing "---"
		}
		docs++
		if err := checkDocument(doc); err != nil {
			return fmt.Errorf("document %d: %w", n, err)
		}
	}
	if docs == 0 {
		return errors.New("empty file")
	}
	return nil
}

func checkDocument(doc map[string]any) error {
	if services, ok := doc["services"]; ok {
		return checkCompose(services)
	}
	if _, ok := doc["kind"]; ok {
		return checkKubernetes(doc)
	}
	return nil
}

// checkKubernetes checks what every Kubernetes object needs; the schema of
// each kind is left to kubectl --dry-run or kubeconform where they exist.
func checkKubernetes(doc map[string]any) error {
	kind, _ := doc["kind"].(string)
	if kind == "" {
		return errors.New("kind: want a string")
	}
	if v, _ := doc["apiVersion"].(string); v == "" {
		return fmt.Errorf("%s: needs apiVersion", kind)
	}
	meta, _ := doc["metadata"].(map[string]any)
	if name, _ := meta["name"].(string); name == "" {
		return fmt.Errorf("%s: needs metadata.name", kind)
	}
	return nil
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
