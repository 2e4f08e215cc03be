package app

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"rightsdesk/internal/operator"
)

var operatorUsage = `rightsdesk operator list
rightsdesk operator check

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
line of its own, and exits 1 if there is one. Neither needs the database.`

func runOperator(_ context.Context, c *cli, args []string) error {
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
