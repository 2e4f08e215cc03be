package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"rightsdesk/internal/operator"
)

var operatorUsage = `rightsdesk operator list
rightsdesk operator check
rightsdesk operator add --slug SLUG KEY=VALUE... (or --KEY VALUE)

The operators one deployment serves (issue 15). OPERATORS_FILE names a YAML
file with a list under operators:, each entry a slug plus the operator's own
settings under their environment names:

  operators:
    - slug: flextok
      BASE_URL: https://privacy.flextokxumare.kz
      ORG_NAME: Flextok Xumare
      PRIVACY_CONTACT_EMAIL: help@flextokxumare.kz
      PROMISED_DAYS: 30

A request belongs to the operator whose BASE_URL host (or path prefix) it
arrived on. A setting an entry does not name is the environment's. With no
OPERATORS_FILE the environment is the one operator, "default".

Settings an operator may set: ` + strings.Join(operator.Settings(), ", ") + `.

list prints each operator's slug, address, name and privacy contact.
check validates the file and the environment, printing every mistake on a
line of its own, and exits 1 if there is one. Neither needs the database.

add appends an operator to OPERATORS_FILE (made if it does not exist yet),
e.g.
  rightsdesk operator add --slug flextok BASE_URL=https://privacy.flextokxumare.kz \
    ORG_NAME="Flextok Xumare" PRIVACY_CONTACT_EMAIL=help@flextokxumare.kz
The file with the new operator is checked as check does (a slug or an
address another operator has is refused) before it is written; on any
mistake the file is left as it was. Restart serve for it to take effect.`

func runOperator(_ context.Context, c *cli, args []string) error {
	if len(args) > 0 && args[0] == "add" {
		return runOperatorAdd(c, args[1:])
	}
	if len(args) != 1 || (args[0] != "list" && args[0] != "check") {
		return errUsage
	}
	set, err := operator.Load(c.env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if args[0] == "check" {
		fmt.Fprintf(c.stdout, "%d operator(s), no mistakes\n", set.Len())
		return nil
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tADDRESS\tNAME\tCONTACT")
	for _, op := range set.All() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", op.Slug, op.Config.BaseURL, op.Config.OrgName, op.Config.PrivacyContact)
	}
	return w.Flush()
}

// runOperatorAdd reads --slug and the settings, as KEY=VALUE or --KEY VALUE
// (--KEY=VALUE), and appends the operator to OPERATORS_FILE.
func runOperatorAdd(c *cli, args []string) error {
	path, _ := c.env("OPERATORS_FILE")
	if path = strings.TrimSpace(path); path == "" {
		return errors.New("OPERATORS_FILE is not set: name the file to add the operator to")
	}
	slug := ""
	values := map[string]string{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if strings.HasPrefix(arg, "-") && !hasValue {
			if i+1 >= len(args) {
				return fmt.Errorf("%s: no value", arg)
			}
			i++
			value = args[i]
		} else if !hasValue {
			return fmt.Errorf("%q: want KEY=VALUE or --KEY VALUE", arg)
		}
		if name == "slug" {
			slug = value
			continue
		}
		if _, seen := values[name]; seen {
			return fmt.Errorf("%s: given twice", name)
		}
		values[name] = value
	}
	if slug == "" {
		fmt.Fprintln(c.stderr, "rightsdesk operator add: --slug is required")
		return errUsage
	}
	set, err := operator.Add(path, slug, values, c.env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	op, _ := set.BySlug(slug)
	fmt.Fprintf(c.stdout, "added operator %s (%s) to %s: %d operator(s); restart serve for it to take effect\n", op.Slug, op.Config.BaseURL, path, set.Len())
	return nil
}
