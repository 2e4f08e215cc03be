package main_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goPackages lists the folders under root (relative to the repository)
// that hold Go files, and those of them whose package is main.
func goPackages(t *testing.T, repo string, roots ...string) (all, programs []string) {
	t.Helper()
	mainPkg := regexp.MustCompile(`(?m)^package main\b`)
	for _, root := range roots {
		err := filepath.WalkDir(filepath.Join(repo, root), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			dir, _ := filepath.Rel(repo, filepath.Dir(path))
			dir = filepath.ToSlash(dir)
			if !slices.Contains(all, dir) {
				all = append(all, dir)
			}
			src, err := os.ReadFile(path) // #nosec G304 -- the repository's own source files
			if err != nil {
				return err
			}
			if mainPkg.Match(src) && !slices.Contains(programs, dir) {
				programs = append(programs, dir)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return all, programs
}

// TestTheREADMETreeNamesEveryPackageAndNoProgramLivesInInternal: the
// README's "How it is built" is where a newcomer learns where things live;
// a package it does not name, or a program among the concern packages, is
// a folder nobody was told about.
func TestTheREADMETreeNamesEveryPackageAndNoProgramLivesInInternal(t *testing.T) {
	repo := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## How it is built\n\n```\n")
	tree, _, ok2 := strings.Cut(section, "```")
	if !ok || !ok2 {
		t.Fatal(`README.md has no "How it is built" tree`)
	}
	// Each entry: a folder at the start of a line, its text running on over
	// the indented lines below it.
	entries := map[string]string{}
	var last string
	for _, line := range strings.Split(tree, "\n") {
		if strings.HasPrefix(line, " ") && last != "" {
			entries[last] += " " + strings.TrimSpace(line)
			continue
		}
		folder, text, _ := strings.Cut(line, " ")
		last = strings.TrimSuffix(folder, "/")
		entries[last] = text
	}
	all, programs := goPackages(t, repo, "internal", "tools", "cmd")
	for _, dir := range all {
		if _, ok := entries[dir]; ok {
			continue
		}
		// A package below a listed folder is named in that folder's entry.
		named := false
		for parent := filepath.ToSlash(filepath.Dir(dir)); parent != "." && !named; parent = filepath.ToSlash(filepath.Dir(parent)) {
			if text, ok := entries[parent]; ok {
				below := strings.Split(strings.TrimPrefix(dir, parent+"/"), "/")[0]
				named = regexp.MustCompile(`\b` + regexp.QuoteMeta(below) + `\b`).MatchString(text)
				break
			}
		}
		if !named {
			t.Errorf("%s is not in README.md's \"How it is built\"", dir)
		}
	}
	for _, dir := range programs {
		if strings.HasPrefix(dir, "internal/") {
			t.Errorf("%s is a program (package main) among the concern packages: it belongs under cmd/ or tools/", dir)
		}
	}
	if len(all) < 20 || !slices.Contains(programs, "cmd/rightsdesk") {
		t.Fatalf("found %d packages and programs %v: the walk looked in the wrong place", len(all), programs)
	}
}
