package request

import (
	"context"
	"time"
)

// ReissueRepository finds the requests whose status links were handed out
// before a moment.
type ReissueRepository interface {
	ChangeRepository
	// RequestsWithLinksBefore lists, by id above after and at most limit of
	// them, the open, confirmed requests that still have a working status
	// link made before before.
	RequestsWithLinksBefore(ctx context.Context, before time.Time, after int64, limit int) ([]int64, error)
}

// Reissuer replaces status links made before a moment with fresh ones sent
// to each request's own address. Until issue 11 the public intake answered
// whoever filed a request with its status link, so after an upgrade from
// such a version a link may be held by someone who filed in another
// person's name: reissuing makes every such link stop working, and the owner
// of the address gets the only one that works (rightsdesk links reissue).
type Reissuer struct {
	Repo     ReissueRepository
	Composer Composer
	Clock    Clock
	Links    Links
	OrgName  string
	Random   ioReader
}

// EventLinksReissued is logged on each request whose links were reissued.
const EventLinksReissued = "status_links_reissued"

// Reissue reissues the links of every open, confirmed request that still
// has a working status link made before before; dryRun only counts them.
// It returns how many requests it reissued (or would). Running it again with
// the same before finds nothing: the links it made are newer.
func (ri *Reissuer) Reissue(ctx context.Context, before time.Time, dryRun bool) (int, error) {
	n := 0
	var after int64
	for {
		ids, err := ri.Repo.RequestsWithLinksBefore(ctx, before, after, 100)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			after = id
			if dryRun {
				n++
				continue
			}
			if err := ri.reissue(ctx, id); err != nil {
				return n, err
			}
			n++
		}
		if len(ids) < 100 {
			return n, nil
		}
	}
}

func (ri *Reissuer) reissue(ctx context.Context, id int64) error {
	token, err := NewToken(ri.Random)
	if err != nil {
		return err
	}
	now := ri.Clock.Now()
	_, err = ri.Repo.ChangeRequest(ctx, RequestKey{ID: id}, func(r Request) (Change, error) {
		data := map[string]any{
			"Org": ri.OrgName, "Reference": r.Reference, "Type": string(r.Type), "DueAt": r.DueAt,
			"StatusURL": ri.Links.Status(SecretPlaceholder(SecretStatus)), "Reissued": true,
		}
		mail, err := composeEmail(ri.Composer, ri.Random, ri.Links, EmailStatusLink, r.Email, r.Locale, data)
		if err != nil {
			return Change{}, err
		}
		mail.Secrets = map[string]string{SecretStatus: token.Plain}
		return Change{
			To: r.Status, Event: EventLinksReissued, Actor: ActorSystem, At: now,
			AddStatusLink: token.Hash, RevokeStatusLinks: true, Emails: []OutboxEmail{mail},
		}, nil
	})
	return err
}
