package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"rightsdesk/internal/config"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/plan"
)

const datamapUsage = `rightsdesk datamap check [--operator SLUG]
rightsdesk datamap plan --type T --email E [--account-id A] [--phone P]
                        [--collection C --field F --value V]   (rectification)
                        [--operator SLUG]

check  reads DATA_MAP_FILE, connects to every database system with its read
       credentials and checks that every table and column the map names
       exists and can take what erasure writes. Prints one line per problem
       (file:line: what is wrong) and exits 1 when there is any.
plan   prints, as JSON, what a request of type T (access, portability,
       erasure, rectification, restriction, consent_withdrawal) from that
       person would do: per system and collection the rows it would export
       or change, the fields and how, the action. Nothing is changed.

--operator names the operator of OPERATORS_FILE whose data map (its
DATA_MAP_FILE and credentials) to use; it is required when the file names
several (rightsdesk operator list).`

func runDatamap(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "check":
		fs := flag.NewFlagSet("datamap check", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		fs.Usage = func() {}
		slug := fs.String("operator", "", operatorFlagHelp)
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return errUsage
		}
		return datamapCheck(ctx, c, *slug)
	case "plan":
		return datamapPlan(ctx, c, args[1:])
	}
	return errUsage
}

// errProblems reports that the command printed the problems it found.
var errProblems = errors.New("problems found (above)")

// datamapSystems connects to the systems of the data map of the operator
// slug names (operatorConfig).
func datamapSystems(c *cli, slug string) (config.Config, *connector.Systems, error) {
	cfg, err := operatorConfig(c, slug)
	if err != nil {
		return cfg, nil, err
	}
	if cfg.DataMap == nil {
		return cfg, nil, errors.New("DATA_MAP_FILE is not set: name the data map (see docs/fulfillment.md)")
	}
	problems, warnings := cfg.DataMap.CheckEnv(datamap.Env(cfg.Env))
	for _, w := range warnings {
		fmt.Fprintln(c.stderr, "warning: "+w)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(c.stdout, p)
		}
		return cfg, nil, errProblems
	}
	return cfg, connector.New(cfg.DataMap, datamap.Env(cfg.Env)), nil
}

func datamapCheck(ctx context.Context, c *cli, slug string) error {
	cfg, systems, err := datamapSystems(c, slug)
	if err != nil {
		return err
	}
	defer systems.Close()
	lines := systems.Check(ctx)
	for _, l := range lines {
		fmt.Fprintln(c.stdout, l)
	}
	if len(lines) > 0 {
		return errProblems
	}
	m := cfg.DataMap
	sqlSystems := 0
	for _, s := range m.Systems {
		if s.Kind.SQL() {
			sqlSystems++
		}
	}
	fmt.Fprintf(c.stdout, "%s: %d database system(s), %d collection(s): every table and column is there\n", m.File, sqlSystems, len(m.Collections))
	return nil
}

func datamapPlan(ctx context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("datamap plan", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {}
	var types []string
	for _, t := range plan.Types() {
		types = append(types, string(t))
	}
	typ := fs.String("type", "", "request type ("+strings.Join(types, ", ")+")")
	email := fs.String("email", "", "the requester's email")
	account := fs.String("account-id", "", "the requester's account id")
	phone := fs.String("phone", "", "the requester's phone")
	coll := fs.String("collection", "", "rectification: the collection")
	field := fs.String("field", "", "rectification: the field")
	value := fs.String("value", "", "rectification: the corrected value")
	slug := fs.String("operator", "", operatorFlagHelp)
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *typ == "" {
		return errUsage
	}
	t := plan.Type(*typ)
	known := false
	for _, k := range plan.Types() {
		known = known || k == t
	}
	if !known {
		return fmt.Errorf("--type: want one of %s, got %q", strings.Join(types, ", "), *typ)
	}
	id := identifier.Identity{Email: *email, AccountID: *account, Phone: *phone}
	if *phone != "" && identifier.Phone(*phone) == "" {
		return fmt.Errorf("--phone: %q is not a phone number", *phone)
	}
	if id.Empty() {
		return errors.New("give --email, --account-id or --phone: the rows of whom?")
	}
	var corr []plan.Correction
	if t == plan.Rectification {
		if *coll == "" || *field == "" {
			return errors.New("a rectification needs --collection, --field and --value")
		}
		corr = []plan.Correction{{Collection: *coll, Field: *field, Value: *value}}
	}
	_, systems, err := datamapSystems(c, *slug)
	if err != nil {
		return err
	}
	defer systems.Close()
	p, err := plan.Make(ctx, systems, t, id, corr)
	if err != nil {
		return err
	}
	out := json.NewEncoder(c.stdout)
	out.SetIndent("", "  ")
	return out.Encode(struct {
		Systems []plan.System `json:"systems"`
	}{p.Systems})
}

// checkDataMap is serve's look at DATA_MAP_FILE: the map itself was checked
// by config.Load (a mistake refuses start); a database without its read
// credentials, or an HTTP system without its URL or secret, refuses start
// too. What only changes need is a warning, and so is a system that does
// not answer or disagrees with the map: a system that is down delays only
// its own steps, so it must not keep the portal from serving.
func checkDataMap(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if cfg.DataMap == nil {
		return nil
	}
	problems, warnings := cfg.DataMap.CheckEnv(datamap.Env(cfg.Env))
	if len(problems) > 0 {
		return fmt.Errorf("DATA_MAP_FILE: %s", strings.Join(problems, "\n"))
	}
	for _, w := range warnings {
		logger.Warn("data map: a variable it names is not set", "problem", w)
	}
	go func() {
		systems := connector.New(cfg.DataMap, datamap.Env(cfg.Env))
		defer systems.Close()
		for _, s := range cfg.DataMap.Systems {
			if !s.Kind.SQL() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			lines := systems.CheckSystem(cctx, s.Name)
			cancel()
			for _, l := range lines {
				logger.Warn("data map: system check", "system", s.Name, "problem", l)
			}
			if len(lines) == 0 {
				logger.Info("data map: system ready", "system", s.Name)
			}
		}
	}()
	logger.Info("data map loaded", "file", cfg.DataMap.File, "systems", len(cfg.DataMap.Systems), "collections", len(cfg.DataMap.Collections))
	return nil
}
