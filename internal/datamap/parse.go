package datamap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"rightsdesk/internal/identifier"
)

// The file's shape. yaml.v3 decodes it with KnownFields, so any key not
// named here is refused with its line.
type fileMap struct {
	Version     int                       `yaml:"version"`
	Identities  []string                  `yaml:"identities"`
	HashKeyEnv  string                    `yaml:"hash_key_env"`
	Purposes    map[string]fileText       `yaml:"purposes"`
	Reasons     map[string]fileText       `yaml:"reasons"`
	Systems     map[string]fileSystem     `yaml:"systems"`
	Collections map[string]fileCollection `yaml:"collections"`
}

type fileText struct {
	RU string `yaml:"ru"`
	KK string `yaml:"kk"`
	EN string `yaml:"en"`
}

type fileSystem struct {
	Kind         string `yaml:"kind"`
	ReadURLEnv   string `yaml:"read_url_env"`
	ChangeURLEnv string `yaml:"change_url_env"`
	URLEnv       string `yaml:"url_env"`
	SecretEnv    string `yaml:"secret_env"`
}

type fileCollection struct {
	Label             *fileText            `yaml:"label"`
	System            string               `yaml:"system"`
	Table             string               `yaml:"table"`
	Key               string               `yaml:"key"`
	Identity          map[string]string    `yaml:"identity"`
	Relations         []fileRelation       `yaml:"relations"`
	Fields            map[string]fileField `yaml:"fields"`
	Retention         string               `yaml:"retention"`
	Restriction       *fileAction          `yaml:"restriction"`
	ConsentWithdrawal *fileAction          `yaml:"consent_withdrawal"`
}

type fileRelation struct {
	Field      string `yaml:"field"`
	References string `yaml:"references"`
}

type fileField struct {
	Label    *fileText `yaml:"label"`
	Category string    `yaml:"category"`
	Purpose  string    `yaml:"purpose"`
	Erase    string    `yaml:"erase"`
	Value    any       `yaml:"value"`
	Reason   string    `yaml:"reason"`
	KeepFor  string    `yaml:"keep_for"`
}

type fileAction struct {
	Set    string `yaml:"set"`
	Value  any    `yaml:"value"`
	HTTP   string `yaml:"http"`
	Action string `yaml:"action"`
}

// Problem is one mistake in a map: where it is and what is wrong.
type Problem struct {
	Line int
	Msg  string
}

// Error lists every mistake Parse found, one line each.
type Error struct {
	File     string
	Problems []Problem
}

// Lines returns the mistakes as "file:line: what is wrong".
func (e *Error) Lines() []string {
	out := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Line > 0 {
			out[i] = fmt.Sprintf("%s:%d: %s", e.File, p.Line, p.Msg)
		} else {
			out[i] = fmt.Sprintf("%s: %s", e.File, p.Msg)
		}
	}
	return out
}

func (e *Error) Error() string { return strings.Join(e.Lines(), "\n") }

// Load reads and parses the map in a file.
func Load(path string) (*Map, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator names the data map file (DATA_MAP_FILE); reading it is the point
	if err != nil {
		return nil, fmt.Errorf("read data map: %w", err)
	}
	return Parse(path, b)
}

// maxMapSize bounds what Parse reads: a map is a page or two of YAML.
const maxMapSize = 4 << 20

// Parse reads a map and checks everything that can be checked without
// connecting to a system. The error is an *Error with one line per mistake.
func Parse(name string, data []byte) (*Map, error) {
	if len(data) > maxMapSize {
		return nil, &Error{File: name, Problems: []Problem{{Msg: fmt.Sprintf("the file is larger than %d MiB: a data map is a page or two", maxMapSize>>20)}}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{File: name, Problems: []Problem{yamlProblem(err.Error())}}
	}
	var f fileMap
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Problems: []Problem{{Msg: "the file is empty"}}}
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			e := &Error{File: name}
			for _, msg := range te.Errors {
				e.Problems = append(e.Problems, yamlProblem(msg))
			}
			return nil, e
		}
		return nil, &Error{File: name, Problems: []Problem{yamlProblem(err.Error())}}
	}
	sum := sha256.Sum256(data)
	p := &parser{
		m:   &Map{File: name, Digest: hex.EncodeToString(sum[:]), HashKeyEnv: f.HashKeyEnv},
		doc: document(&root),
	}
	p.build(&f)
	if len(p.problems) > 0 {
		sort.SliceStable(p.problems, func(i, j int) bool { return p.problems[i].Line < p.problems[j].Line })
		return nil, &Error{File: name, Problems: p.problems}
	}
	return p.m, nil
}

var (
	yamlLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknown  = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	yamlBadValue = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.*)$")
)

// yamlProblem turns yaml.v3's message into a line and plain words.
func yamlProblem(msg string) Problem {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return Problem{Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if u := yamlUnknown.FindStringSubmatch(text); u != nil {
		text = fmt.Sprintf("unknown key %q", u[1])
	} else if v := yamlBadValue.FindStringSubmatch(text); v != nil {
		want := map[string]string{"int": "a whole number", "string": "text", "bool": "true or false"}[v[3]]
		if want == "" {
			want = map[bool]string{true: "a list", false: "a mapping"}[strings.HasPrefix(v[3], "[]")]
		}
		if v[2] != "" {
			text = fmt.Sprintf("%q is %s here, want %s", v[2], yamlKind(v[1]), want)
		} else {
			text = fmt.Sprintf("%s is not allowed here, want %s", yamlKind(v[1]), want)
		}
	}
	return Problem{Line: line, Msg: text}
}

func yamlKind(tag string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "str":
		return "text"
	}
	return "a " + tag
}

// node is a YAML node with the lookups the parser needs for line numbers.
type node struct{ n *yaml.Node }

func document(root *yaml.Node) node {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		return node{root.Content[0]}
	}
	return node{root}
}

// key returns the line of a mapping key and the node of its value.
func (n node) key(name string) (int, node) {
	if n.n == nil || n.n.Kind != yaml.MappingNode {
		return n.line(), node{}
	}
	for i := 0; i+1 < len(n.n.Content); i += 2 {
		if n.n.Content[i].Value == name {
			return n.n.Content[i].Line, node{n.n.Content[i+1]}
		}
	}
	return n.line(), node{}
}

// has reports whether a mapping has the key.
func (n node) has(name string) bool { return slices.Contains(n.keys(), name) }

// keyOr is the line of a key, or fallback when the mapping lacks it.
func (n node) keyOr(name string, fallback int) int {
	if n.has(name) {
		return n.at(name)
	}
	return fallback
}

// keys lists a mapping's keys in the order of the file.
func (n node) keys() []string {
	if n.n == nil || n.n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.n.Content); i += 2 {
		out = append(out, n.n.Content[i].Value)
	}
	return out
}

func (n node) item(i int) node {
	if n.n == nil || n.n.Kind != yaml.SequenceNode || i >= len(n.n.Content) {
		return n
	}
	return node{n.n.Content[i]}
}

func (n node) line() int {
	if n.n == nil {
		return 0
	}
	return n.n.Line
}

// at walks keys down from n and returns the line of the last one.
func (n node) at(path ...string) int {
	line := n.line()
	cur := n
	for _, k := range path {
		line, cur = cur.key(k)
	}
	return line
}

type parser struct {
	m        *Map
	doc      node
	problems []Problem
}

func (p *parser) fail(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
}

var (
	namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	envPattern  = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,127}$`)
)

// sqlName accepts a table or column name: quoted by each dialect's rules
// wherever it is used, so only what neither could carry is refused.
func sqlName(s string) bool {
	if s == "" || len(s) > 64 || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '.' {
			return false
		}
	}
	return true
}

func (p *parser) env(line int, what, name string, required bool) {
	switch {
	case name == "" && required:
		p.fail(line, "%s is required: the name of the environment variable that holds it (never the value itself)", what)
	case name != "" && !envPattern.MatchString(name):
		p.fail(line, "%s %q is not an environment variable name (upper-case letters, digits and _): the map names variables and never holds secrets", what, name)
	}
}

func (p *parser) build(f *fileMap) {
	m := p.m
	if f.Version != 1 {
		p.fail(p.doc.at("version"), "version: want 1, got %d", f.Version)
	}
	// Identities.
	idLine, idNode := p.doc.key("identities")
	if len(f.Identities) == 0 {
		p.fail(idLine, "identities: list the identifiers people are found by (email, phone, account_id)")
	}
	for i, s := range f.Identities {
		k := identifier.Kind(s)
		switch {
		case !k.Valid():
			p.fail(idNode.item(i).line(), "identities: unknown identifier %q (known: email, phone, account_id)", s)
		case slices.Contains(m.Identities, k):
			p.fail(idNode.item(i).line(), "identities: %s is listed twice", s)
		default:
			m.Identities = append(m.Identities, k)
		}
	}
	p.env(p.doc.at("hash_key_env"), "hash_key_env", f.HashKeyEnv, false)
	m.hashKeyLine = p.doc.at("hash_key_env")

	m.Purposes = p.texts("purposes", f.Purposes)
	m.Reasons = p.texts("reasons", f.Reasons)

	// Systems.
	_, sysNode := p.doc.key("systems")
	if len(f.Systems) == 0 {
		p.fail(p.doc.at("systems"), "systems: name at least one system")
	}
	for _, name := range sysNode.keys() {
		fs := f.Systems[name]
		line, sn := sysNode.key(name)
		s := &System{Name: name, Kind: Kind(fs.Kind), Line: line,
			ReadURLEnv: fs.ReadURLEnv, ChangeURLEnv: fs.ChangeURLEnv, URLEnv: fs.URLEnv, SecretEnv: fs.SecretEnv}
		if !namePattern.MatchString(name) {
			p.fail(line, "system %q: a name is lower-case letters, digits and _, starting with a letter", name)
		}
		switch s.Kind {
		case Postgres, MySQL:
			p.env(sn.keyOr("read_url_env", line), "system "+name+": read_url_env", fs.ReadURLEnv, true)
			p.env(sn.keyOr("change_url_env", line), "system "+name+": change_url_env", fs.ChangeURLEnv, false)
			if fs.ChangeURLEnv != "" && fs.ChangeURLEnv == fs.ReadURLEnv {
				p.fail(sn.at("change_url_env"), "system %s: change_url_env is read_url_env: gathering runs with credentials that can only read, so give changes their own", name)
			}
			if fs.URLEnv != "" || fs.SecretEnv != "" {
				p.fail(sn.at("url_env"), "system %s: url_env and secret_env are for kind http; a database takes read_url_env and change_url_env", name)
			}
		case HTTP:
			p.env(sn.keyOr("url_env", line), "system "+name+": url_env", fs.URLEnv, true)
			p.env(sn.keyOr("secret_env", line), "system "+name+": secret_env", fs.SecretEnv, true)
			if fs.ReadURLEnv != "" || fs.ChangeURLEnv != "" {
				p.fail(sn.at("read_url_env"), "system %s: read_url_env and change_url_env are for databases; kind http takes url_env and secret_env", name)
			}
		default:
			p.fail(sn.at("kind"), "system %s: unknown kind %q (known: postgres, mysql, http)", name, fs.Kind)
		}
		m.Systems = append(m.Systems, s)
	}

	// Collections: first the collections themselves, then what refers to
	// other collections, which may come later in the file.
	colLine, colNode := p.doc.key("collections")
	if len(f.Collections) == 0 {
		p.fail(colLine, "collections: name at least one collection (a table holding personal data)")
	}
	tables := map[string]string{}
	for _, name := range colNode.keys() {
		fc := f.Collections[name]
		line, cn := colNode.key(name)
		c := &Collection{Name: name, Line: line, Key: fc.Key}
		if !namePattern.MatchString(name) {
			p.fail(line, "collection %q: a name is lower-case letters, digits and _, starting with a letter", name)
		}
		c.System = m.System(fc.System)
		switch {
		case fc.System == "":
			p.fail(line, "collection %s: system is required", name)
		case c.System == nil:
			p.fail(cn.at("system"), "collection %s: unknown system %q", name, fc.System)
		case !c.System.Kind.SQL():
			p.fail(cn.at("system"), "collection %s: system %s is kind http, which holds no tables; name it in a restriction or consent_withdrawal action instead", name, fc.System)
			c.System = nil
		}
		table := fc.Table
		if schema, t, ok := strings.Cut(table, "."); ok {
			c.Schema, table = schema, t
		}
		c.Table = table
		if fc.Table == "" {
			p.fail(line, "collection %s: table is required", name)
		} else if !sqlName(c.Table) || (c.Schema != "" && !sqlName(c.Schema)) {
			p.fail(cn.at("table"), "collection %s: %q is not a table name (schema.table or table)", name, fc.Table)
		}
		if c.System != nil && fc.Table != "" {
			full := c.System.Name + ":" + c.Schema + "." + c.Table
			if other, dup := tables[full]; dup {
				p.fail(cn.at("table"), "collection %s: table %s is also collection %s; one collection per table", name, fc.Table, other)
			}
			tables[full] = name
			c.System.Collections = append(c.System.Collections, c)
		}
		if fc.Label != nil {
			p.text(cn, cn.at("label"), "collection "+name+": label", *fc.Label)
			c.Label = Text(*fc.Label)
		}
		if c.Key != "" && !sqlName(c.Key) {
			p.fail(cn.at("key"), "collection %s: %q is not a column name", name, c.Key)
		}
		if fc.Retention != "" {
			if r, ok := parsePeriod(fc.Retention); ok {
				c.Retention = &r
			} else {
				p.fail(cn.at("retention"), "collection %s: retention %q: want whole years, months or days such as 3y, 6m or 30d", name, fc.Retention)
			}
		}
		p.fields(c, fc, cn)
		p.identity(c, fc, cn)
		for _, r := range fc.Relations {
			c.relationColumns = append(c.relationColumns, r.Field)
		}
		m.Collections = append(m.Collections, c)
	}
	for _, c := range m.Collections {
		fc := f.Collections[c.Name]
		_, cn := colNode.key(c.Name)
		p.relations(c, fc, cn)
		c.Restriction = p.action(c, "restriction", fc.Restriction, cn)
		c.ConsentWithdrawal = p.action(c, "consent_withdrawal", fc.ConsentWithdrawal, cn)
	}
	p.graph()
	p.usage()
}

func (p *parser) texts(section string, in map[string]fileText) map[string]Text {
	out := map[string]Text{}
	_, sn := p.doc.key(section)
	for _, name := range sn.keys() {
		t := in[name]
		line, tn := sn.key(name)
		if !namePattern.MatchString(name) {
			p.fail(line, "%s: %q: a name is lower-case letters, digits and _, starting with a letter", section, name)
		}
		p.text(tn, line, section+" "+name, t)
		out[name] = Text(t)
	}
	return out
}

// text wants all three languages: the requester reads it in theirs.
func (p *parser) text(n node, line int, what string, t fileText) {
	for _, l := range []struct{ key, val string }{{"ru", t.RU}, {"kk", t.KK}, {"en", t.EN}} {
		if strings.TrimSpace(l.val) == "" {
			p.fail(line, "%s: %s is missing: requesters read it in Russian, Kazakh and English", what, l.key)
		} else if strings.ContainsRune(l.val, 0) || len(l.val) > 2000 {
			p.fail(n.at(l.key), "%s: %s must be text of at most 2000 characters", what, l.key)
		}
	}
}

func (p *parser) fields(c *Collection, fc fileCollection, cn node) {
	fieldsLine, fn := cn.key("fields")
	if len(fc.Fields) == 0 {
		p.fail(fieldsLine, "collection %s: fields: list the columns holding personal data, each with its category, purpose and erasure", c.Name)
		return
	}
	deletes, keeps := "", ""
	for _, name := range fn.keys() {
		ff := fc.Fields[name]
		line, n := fn.key(name)
		where := "collection " + c.Name + ", field " + name
		f := &Field{Name: name, Line: line, Category: Category(ff.Category), Purpose: ff.Purpose, Erase: Erasure(ff.Erase), Value: ff.Value, Reason: ff.Reason}
		if !sqlName(name) {
			p.fail(line, "%s: %q is not a column name", where, name)
		}
		if ff.Label != nil {
			p.text(n, n.at("label"), where+": label", *ff.Label)
			f.Label = Text(*ff.Label)
		}
		switch {
		case ff.Category == "":
			p.fail(line, "%s: category is required (one of %s)", where, categoryList())
		case !f.Category.Valid():
			p.fail(n.at("category"), "%s: unknown category %q (known: %s)", where, ff.Category, categoryList())
		}
		switch _, ok := p.m.Purposes[ff.Purpose]; {
		case ff.Purpose == "":
			p.fail(line, "%s: purpose is required: the name of one of purposes", where)
		case !ok:
			p.fail(n.at("purpose"), "%s: unknown purpose %q (define it under purposes, in ru, kk and en)", where, ff.Purpose)
		}
		switch f.Erase {
		case EraseNull, EraseHash:
			if ff.Value != nil {
				p.fail(n.at("value"), "%s: value is only for erase: value", where)
			}
			if f.Erase == EraseHash && c.Key == "" {
				p.fail(n.at("erase"), "%s: a keyed hash is computed row by row: give the collection's key (its primary key column)", where)
			}
		case EraseValue:
			switch ff.Value.(type) {
			case nil:
				p.fail(n.at("erase"), "%s: erase: value needs the value, e.g. value: \"deleted\" (for NULL write erase: null)", where)
			case string, int, int64, float64, bool:
			default:
				p.fail(n.at("value"), "%s: value must be text, a number or true/false", where)
			}
		case EraseDelete:
			deletes = name
		case EraseKeep:
			keeps = name
			if _, ok := p.m.Reasons[ff.Reason]; ff.Reason == "" || !ok {
				if ff.Reason == "" {
					p.fail(n.at("erase"), "%s: erase: keep needs the reason (one of reasons: the law or duty that requires keeping it)", where)
				} else {
					p.fail(n.at("reason"), "%s: unknown reason %q (define it under reasons, in ru, kk and en)", where, ff.Reason)
				}
			}
			if kf, ok := parsePeriod(ff.KeepFor); ok {
				f.KeepFor = kf
			} else if ff.KeepFor == "" {
				p.fail(n.at("erase"), "%s: erase: keep needs keep_for, how long it is kept (e.g. 5y)", where)
			} else {
				p.fail(n.at("keep_for"), "%s: keep_for %q: want whole years, months or days such as 5y, 6m or 30d", where, ff.KeepFor)
			}
		case "":
			p.fail(line, "%s: erase is required (null, value, hash, delete or keep)", where)
		default:
			p.fail(n.at("erase"), "%s: unknown erase %q (known: null, value, hash, delete, keep)", where, ff.Erase)
		}
		if f.Erase != EraseKeep && (ff.Reason != "" || ff.KeepFor != "") {
			p.fail(n.at("reason"), "%s: reason and keep_for are only for erase: keep", where)
		}
		c.Fields = append(c.Fields, f)
	}
	if deletes != "" {
		for _, f := range c.Fields {
			if f.Erase != EraseDelete {
				if keeps != "" {
					p.fail(f.Line, "collection %s: field %s is kept, so the rows cannot be deleted (field %s says delete)", c.Name, keeps, deletes)
					break
				}
				p.fail(f.Line, "collection %s, field %s: erase: delete deletes the whole row (field %s says so): give every field erase: delete", c.Name, f.Name, deletes)
			}
		}
	}
}

func categoryList() string {
	var s []string
	for _, c := range Categories() {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

func (p *parser) identity(c *Collection, fc fileCollection, cn node) {
	_, in := cn.key("identity")
	for _, kind := range in.keys() {
		col := fc.Identity[kind]
		line, _ := in.key(kind)
		k := identifier.Kind(kind)
		switch {
		case !k.Valid():
			p.fail(line, "collection %s: identity: unknown identifier %q (known: email, phone, account_id)", c.Name, kind)
			continue
		case !slices.Contains(p.m.Identities, k):
			p.fail(line, "collection %s: identity: %s is not in identities", c.Name, kind)
			continue
		case !sqlName(col):
			p.fail(line, "collection %s: identity %s: %q is not a column name", c.Name, kind, col)
			continue
		case c.Field(col) == nil:
			p.fail(line, "collection %s: identity column %s is not among the fields: list it, with what erasure does to it", c.Name, col)
		}
		c.Identity = append(c.Identity, IdentityColumn{Kind: k, Column: col})
	}
	slices.SortStableFunc(c.Identity, func(a, b IdentityColumn) int {
		return slices.Index(identifier.Kinds(), a.Kind) - slices.Index(identifier.Kinds(), b.Kind)
	})
}

// columns lists the columns the map names for a collection.
func (c *Collection) columns() []string {
	var out []string
	if c.Key != "" {
		out = append(out, c.Key)
	}
	for _, id := range c.Identity {
		out = append(out, id.Column)
	}
	for _, f := range c.Fields {
		out = append(out, f.Name)
	}
	return append(out, c.relationColumns...)
}

func (p *parser) relations(c *Collection, fc fileCollection, cn node) {
	_, rn := cn.key("relations")
	for i, fr := range fc.Relations {
		line := rn.item(i).line()
		where := "collection " + c.Name + ": relation"
		if !sqlName(fr.Field) {
			p.fail(line, "%s: field is required: this table's column that holds the other's value", where)
			continue
		}
		target, col, ok := strings.Cut(fr.References, ".")
		if !ok || target == "" || col == "" {
			p.fail(line, "%s %s: references must be collection.column, got %q", where, fr.Field, fr.References)
			continue
		}
		to := p.m.Collection(target)
		switch {
		case to == nil:
			p.fail(line, "%s %s: unknown collection %q", where, fr.Field, target)
			continue
		case to == c:
			p.fail(line, "%s %s: a collection cannot reference itself: its other rows belong to other people", where, fr.Field)
			continue
		case c.System != nil && to.System != nil && to.System != c.System:
			p.fail(line, "%s %s: %s is in system %s and %s in %s: relations are followed inside one system; give %s identity columns of its own",
				where, fr.Field, target, to.System.Name, c.Name, c.System.Name, c.Name)
			continue
		case !slices.Contains(to.columns(), col):
			p.fail(line, "%s %s: unknown field %s.%s (a relation leads to the other collection's key, an identity column or a field)", where, fr.Field, target, col)
			continue
		}
		c.Relations = append(c.Relations, Relation{Column: fr.Field, To: to, ToColumn: col, Line: line})
	}
}

func (p *parser) action(c *Collection, typ string, fa *fileAction, cn node) *Action {
	if fa == nil {
		return nil
	}
	line, n := cn.key(typ)
	where := "collection " + c.Name + ": " + typ
	a := &Action{Line: line, Set: fa.Set, Value: fa.Value, Name: fa.Action}
	switch {
	case fa.Set != "" && fa.HTTP != "":
		p.fail(line, "%s: either set a column or call an http system, not both", where)
	case fa.Set != "":
		if !sqlName(fa.Set) {
			p.fail(n.at("set"), "%s: %q is not a column name", where, fa.Set)
		}
		switch fa.Value.(type) {
		case nil:
			p.fail(n.at("set"), "%s: set needs the value the column takes, e.g. value: true", where)
		case string, int, int64, float64, bool:
		default:
			p.fail(n.at("value"), "%s: value must be text, a number or true/false", where)
		}
		if fa.Action != "" {
			p.fail(n.at("action"), "%s: action names what an http system is asked to do; a column takes set and value", where)
		}
	case fa.HTTP != "":
		a.HTTP = p.m.System(fa.HTTP)
		switch {
		case a.HTTP == nil:
			p.fail(n.at("http"), "%s: unknown system %q", where, fa.HTTP)
		case a.HTTP.Kind != HTTP:
			p.fail(n.at("http"), "%s: system %s is kind %s, not http", where, fa.HTTP, a.HTTP.Kind)
			a.HTTP = nil
		}
		if fa.Value != nil {
			p.fail(n.at("value"), "%s: value is for set; an http system is told the action and the identity", where)
		}
		if a.Name == "" {
			a.Name = typ
		} else if !namePattern.MatchString(a.Name) {
			p.fail(n.at("action"), "%s: action %q: lower-case letters, digits and _", where, a.Name)
		}
	default:
		p.fail(line, "%s: give set (a column) and value, or http (a system of kind http)", where)
	}
	return a
}

// graph refuses relation cycles and collections no identity reaches.
func (p *parser) graph() {
	const (
		unseen = iota
		open
		closed
	)
	state := map[*Collection]int{}
	var path []*Collection
	var visit func(c *Collection) bool
	visit = func(c *Collection) bool {
		switch state[c] {
		case open:
			i := slices.Index(path, c)
			names := []string{}
			for _, x := range append(path[i:], c) {
				names = append(names, x.Name)
			}
			p.fail(c.Line, "relations form a cycle %s: following it would reach other people's rows; drop one of them", strings.Join(names, " → "))
			return false
		case closed:
			return true
		}
		state[c] = open
		path = append(path, c)
		for _, r := range c.Relations {
			if !visit(r.To) {
				return false
			}
		}
		path = path[:len(path)-1]
		state[c] = closed
		return true
	}
	for _, c := range p.m.Collections {
		if state[c] == unseen && !visit(c) {
			return // one cycle is enough to report; reachability is moot until it is gone
		}
	}
	reached := map[*Collection]bool{}
	for changed := true; changed; {
		changed = false
		for _, c := range p.m.Collections {
			if reached[c] {
				continue
			}
			ok := len(c.Identity) > 0
			for _, r := range c.Relations {
				ok = ok || reached[r.To]
			}
			if ok {
				reached[c], changed = true, true
			}
		}
	}
	for _, c := range p.m.Collections {
		if !reached[c] {
			p.fail(c.Line, "collection %s is reached from no identity: give it identity columns or a relation to a collection that has them", c.Name)
		}
	}
}

// usage refuses what the map declares but nothing uses.
func (p *parser) usage() {
	for _, k := range p.m.Identities {
		used := false
		for _, c := range p.m.Collections {
			for _, id := range c.Identity {
				used = used || id.Kind == k
			}
		}
		if !used {
			p.fail(p.doc.at("identities"), "identities: %s is matched by no collection: give a collection an identity column for it, or drop it", k)
		}
	}
	hashes := false
	for _, c := range p.m.Collections {
		for _, f := range c.Fields {
			hashes = hashes || f.Erase == EraseHash
		}
	}
	if hashes && p.m.HashKeyEnv == "" {
		p.fail(p.doc.line(), "hash_key_env is required: a field erases by keyed hash, and the key lives in that environment variable")
	}
	for _, s := range p.m.Systems {
		switch {
		case s.Kind.SQL() && len(s.Collections) == 0:
			p.fail(s.Line, "system %s has no collections", s.Name)
		case s.Kind == HTTP:
			used := false
			for _, c := range p.m.Collections {
				for _, a := range []*Action{c.Restriction, c.ConsentWithdrawal} {
					used = used || (a != nil && a.HTTP == s)
				}
			}
			if !used {
				p.fail(s.Line, "system %s is called by no restriction or consent_withdrawal", s.Name)
			}
		}
	}
}
