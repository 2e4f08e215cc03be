package app

import (
	"context"
	"fmt"
	"sort"

	"rightsdesk/internal/config"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/store"
)

const keyUsage = `rightsdesk key generate
rightsdesk key rotate

generate prints a new random key for ENCRYPTION_KEY (32 bytes, base64).

rotate rewrites every sealed value (the requester's data, messages, files,
emails, notes, the reasons staff typed, TOTP and webhook secrets) that is
not sealed with the first key of ENCRYPTION_KEY, and recomputes the search
index with it. To change keys:

  1. ENCRYPTION_KEY=NEW,OLD on every instance, and restart them: new data
     is sealed with NEW, everything opens with either key;
  2. rightsdesk key rotate (with the same ENCRYPTION_KEY): safe to run while
     serve runs, to stop and to run again;
  3. ENCRYPTION_KEY=NEW on every instance, restart; destroy OLD.

Uses DATABASE_URL, or the private PostgreSQL under RIGHTSDESK_DATA_DIR, and
applies pending migrations first, as serve does.`

func runKey(ctx context.Context, c *cli, args []string) error {
	if len(args) != 1 {
		return errUsage
	}
	switch args[0] {
	case "generate":
		fmt.Fprintln(c.stdout, keyring.Generate())
		return nil
	case "rotate":
		return withStore(ctx, c, func(cfg config.Config, st *store.Store) error {
			fmt.Fprintf(c.stderr, "sealing with key %s; also opening %v\n", cfg.Keys.CurrentID(), cfg.Keys.IDs()[1:])
			res, err := st.Rotate(ctx, func(column string, n int) {
				fmt.Fprintf(c.stderr, "  %s: %d rewritten so far\n", column, n)
			})
			names := make([]string, 0, len(res))
			total := 0
			for name, n := range res {
				names = append(names, name)
				total += n
			}
			sort.Strings(names)
			for _, name := range names {
				if res[name] > 0 {
					fmt.Fprintf(c.stdout, "%s\t%d\n", name, res[name])
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "rotated\t%d\n", total)
			left, err := st.Unrotated(ctx)
			if err != nil {
				return err
			}
			if left > 0 {
				// Rows locked by serve at that moment were skipped.
				return fmt.Errorf("%d values are still sealed with an older key (they were being changed): run rotate again", left)
			}
			fmt.Fprintf(c.stdout, "every sealed value now opens with key %s alone: the older keys can be removed\n", cfg.Keys.CurrentID())
			return nil
		})
	}
	return errUsage
}
