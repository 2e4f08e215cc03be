package request

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits on what a requester - or someone pretending to be one - can make
// the portal store and send. Each refusal changes nothing and says when the
// action will be taken again.
//
// A reply is stored, may carry five files of 10 MB, and is emailed to the
// assignee: whoever holds a status link could otherwise fill the database
// and the assignee's mailbox. A person answering staff writes a few times;
// these leave room for that and stop a flood.
const (
	// MaxRepliesPerLink replies within ReplyLinkWindow through one status
	// link.
	MaxRepliesPerLink = 5
	ReplyLinkWindow   = time.Hour
	// MaxRepliesPerRequest replies within ReplyRequestWindow on one request,
	// through all its links (a resent link is a new link).
	MaxRepliesPerRequest = 20
	ReplyRequestWindow   = 24 * time.Hour
	// MaxLinkEmailsPerHour is how many emails carrying a fresh link one
	// request sends in an hour at its requester's asking: download links
	// from the status page's button, and status links from the lost-link
	// form. Both go only to the request's own address, but whoever holds a
	// forwarded status link, or knows a reference and its address, must not
	// be able to fill that mailbox.
	MaxLinkEmailsPerHour = 3
	LinkEmailWindow      = time.Hour
	// MaxStoredPerRequest is how much a requester may upload to one request
	// in all, proof of authority and replies together: ten scans of 5 MB.
	MaxStoredPerRequest = 50 << 20
)

// LimitReached refuses an action that would go beyond a limit. Nothing was
// stored or sent; the same action is accepted again from RetryAt.
type LimitReached struct {
	Field   string // the form field the answer belongs to
	Key     string // message key of the answer
	Params  map[string]any
	RetryAt time.Time
}

func (e *LimitReached) Error() string {
	return fmt.Sprintf("limit reached (%s) until %s", e.Key, e.RetryAt.Format(time.RFC3339))
}

// ReplyUsage is what a request's replies have used, counted in the
// transaction that adds a reply, with the request locked: LinkReplies and
// RequestReplies were sent within the windows (through this link, and
// through any), the oldest of each at FirstLinkReply and FirstRequestReply;
// Stored bytes were uploaded to the request by its requester in all.
type ReplyUsage struct {
	LinkReplies, RequestReplies       int
	FirstLinkReply, FirstRequestReply time.Time
	Stored                            int64
}

// ReplyWindows are the starts of the windows replies are counted in at now.
func ReplyWindows(now time.Time) (link, request time.Time) {
	return now.Add(-ReplyLinkWindow), now.Add(-ReplyRequestWindow)
}

// checkReplyRate refuses a reply beyond MaxRepliesPerLink or
// MaxRepliesPerRequest. The answer names the limit; the web layer adds
// when it lifts, in the reader's language.
func checkReplyRate(u ReplyUsage) error {
	switch {
	case u.LinkReplies >= MaxRepliesPerLink:
		return &LimitReached{Field: "message", Key: "error.replies_per_link", RetryAt: u.FirstLinkReply.Add(ReplyLinkWindow),
			Params: map[string]any{"Max": MaxRepliesPerLink}}
	case u.RequestReplies >= MaxRepliesPerRequest:
		return &LimitReached{Field: "message", Key: "error.replies_per_request", RetryAt: u.FirstRequestReply.Add(ReplyRequestWindow),
			Params: map[string]any{"Max": MaxRepliesPerRequest}}
	}
	return nil
}

// checkStorage refuses files that would take a request beyond
// MaxStoredPerRequest, with stored bytes uploaded to it already.
func checkStorage(field string, stored int64, files []File, verr *ValidationError) {
	var adding int64
	for _, f := range files {
		adding += f.Size
	}
	if stored+adding > MaxStoredPerRequest {
		verr.Add(field, "error.storage_quota", map[string]any{
			"MaxMB": int64(MaxStoredPerRequest >> 20), "LeftMB": max(0, MaxStoredPerRequest-stored) >> 20,
		})
	}
}

// ErrAcknowledgementLimit is the store's answer to a submission whose
// acknowledgement would go beyond IntakeConfig.AcknowledgementsPerDay:
// nothing was stored.
var ErrAcknowledgementLimit = errors.New("acknowledgements per day reached for this address")

// acknowledgementDay is the calendar day, in the operator's time zone, in
// which acknowledgements sent at now are counted (as "2006-01-02"), and
// when the next one begins.
func acknowledgementDay(now time.Time, loc *time.Location) (day string, next time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	l := now.In(loc)
	start := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	return start.Format(time.DateOnly), start.AddDate(0, 0, 1)
}

// HitCounter counts hits in a fixed window, shared by every instance
// (store.CountHit): how many times bucket was hit in the window holding now,
// this hit included.
type HitCounter interface {
	CountHit(ctx context.Context, bucket string, now time.Time, window time.Duration) (int, error)
}

// linkEmailAllowed counts one more link email of kind for the request with
// reference and reports whether it stays within MaxLinkEmailsPerHour, and
// when the window lifts. A nil counter allows everything.
func linkEmailAllowed(ctx context.Context, hits HitCounter, kind, reference string, now time.Time) (bool, time.Time, error) {
	if hits == nil {
		return true, time.Time{}, nil
	}
	n, err := hits.CountHit(ctx, "link_email:"+kind+":"+reference, now, LinkEmailWindow)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("count %s emails: %w", kind, err)
	}
	return n <= MaxLinkEmailsPerHour, now.Truncate(LinkEmailWindow).Add(LinkEmailWindow), nil
}
