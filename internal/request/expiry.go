package request

import (
	"context"
	"time"
)

// ExpiryRepository finds unconfirmed requests whose link has run out.
type ExpiryRepository interface {
	// ExpireUnconfirmed applies decide to up to limit unverified requests
	// whose confirmation link expired before now, skipping rows another
	// instance holds, and returns how many it changed.
	ExpireUnconfirmed(ctx context.Context, now time.Time, limit int, decide func(Request) (Change, error)) (int, error)
}

// ExpiringStatuses are the statuses a request whose confirmation link ran
// out unused is expired from: unverified, and triage (a letter whose sender
// never confirmed the address: a From header is easy to forge).
func ExpiringStatuses() []Status { return []Status{Unverified, Triage} }

// Expirer closes requests that were never confirmed. The files of a
// request that closes unverified - expired, or withdrawn before its
// address was confirmed - go with the change that closes it
// (Change.DeleteFiles): whoever sent them never showed they hold the
// address, and nobody will work the request. The daily retention sweep
// deletes any left behind (store.PurgeFiles).
type Expirer struct {
	Repo     ExpiryRepository
	Composer Composer
	Clock    Clock
	Links    Links
	OrgName  string
	Random   ioReader
}

// Sweep expires every request whose confirmation link has run out and
// tells each requester; it returns how many it expired.
func (ex *Expirer) Sweep(ctx context.Context) (int, error) {
	now := ex.Clock.Now()
	total := 0
	for {
		n, err := ex.Repo.ExpireUnconfirmed(ctx, now, 100, func(r Request) (Change, error) {
			if err := CheckTransition(r.Status, Expired, ActorSystem); err != nil {
				return Change{}, err
			}
			mail, err := composeEmail(ex.Composer, ex.Random, ex.Links, EmailExpired, r.Email, r.Locale, map[string]any{
				"Org": ex.OrgName, "Reference": r.Reference, "Type": string(r.Type), "HomeURL": ex.Links.BaseURL + "/",
			})
			if err != nil {
				return Change{}, err
			}
			return Change{To: Expired, Event: "expired", Actor: ActorSystem, At: now, Emails: []OutboxEmail{mail}, DeleteFiles: true}, nil
		})
		total += n
		if err != nil || n < 100 {
			return total, err
		}
	}
}
