package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/identifier"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// Letters: every letter the ways in hand over (internal/inbound) is stored
// here once, in the transaction that stores what it becomes
// (request.Mailroom decides): the request it starts, the reply it adds,
// the bounce it marks. The sink's promise (inbound.Sink) is kept by the
// letters table's unique keys: a letter stored before, by its hash or by
// its sender and Message-ID, is a duplicate and stores nothing.

// Letter outcomes, as the letters table records them.
const (
	letterRequest = "request"
	letterReply   = "reply"
	letterBounce  = "bounce"
	letterIgnored = "ignored"
)

// letterSenderKey is the keyed term that makes a letter's Message-ID from
// its sender unique: "" when the letter has no Message-ID or no sender.
func letterSenderKey(l request.Letter) string {
	if l.MessageID == "" || l.From == "" {
		return ""
	}
	return "letter\x00" + identifier.Email(l.From) + "\x00" + l.MessageID
}

// insertLetter stores the letter's row (its original and view sealed when
// keep, for a person's letter) and returns its id, or dup when the letter
// was stored before. Two transactions storing one letter at once meet at
// the unique keys: the second waits for the first, then finds it.
func (s *Store) insertLetter(ctx context.Context, tx pgx.Tx, l request.Letter, keep bool) (id int64, dup bool, err error) {
	var senderKey []byte
	if k := letterSenderKey(l); k != "" {
		var seen bool
		// Under every key: a letter stored before a key rotation is still known.
		own, args := s.ownedBy("operator_id", []any{s.keys.Terms(k)})
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM letters WHERE sender_key = ANY($1)`+own+`)`, args...).Scan(&seen); err != nil {
			return 0, false, fmt.Errorf("look up letter: %w", err)
		}
		if seen {
			return 0, true, nil
		}
		senderKey = s.keys.Term(k)
	}
	var raw, view []byte
	if keep {
		raw = s.keys.Seal(sealed.LetterRaw, l.Raw)
		doc, err := json.Marshal(l.View)
		if err != nil {
			return 0, false, fmt.Errorf("encode letter view: %w", err)
		}
		view = s.keys.Seal(sealed.LetterView, doc)
	}
	cues := l.Cues
	if cues == nil {
		cues = []string{}
	}
	refs := l.References
	if refs == nil {
		refs = []string{}
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO letters (hash, sender_key, message_id, kind, reason, source, received_at, stored_at, outcome,
			suggested_type, suggestion_confidence, suggestion_cues, refs, raw, view)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT DO NOTHING RETURNING id`,
		l.Hash, senderKey, l.MessageID, l.Kind, l.Reason, l.Source, l.ReceivedAt, l.StoredAt, letterIgnored,
		string(l.Suggested), l.Confidence, cues, refs, raw, view).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store letter: %w", err)
	}
	return id, false, nil
}

// letterDone records what a stored letter became.
type letterDone struct {
	outcome              string
	requestID, messageID int64
	emailID              int64
	threadBy             string
	namedRequestID       int64
	namedWhy             string
}

func (s *Store) finishLetter(ctx context.Context, tx pgx.Tx, id int64, d letterDone) error {
	_, err := tx.Exec(ctx, `
		UPDATE letters SET outcome = $2, request_id = nullif($3, 0), conversation_message_id = nullif($4, 0),
			email_id = nullif($5, 0), thread_by = $6, named_request_id = nullif($7, 0), named_why = $8
		WHERE id = $1`, id, d.outcome, d.requestID, d.messageID, d.emailID, d.threadBy, d.namedRequestID, d.namedWhy)
	if err != nil {
		return fmt.Errorf("record what the letter became: %w", err)
	}
	return nil
}

// ReceiveLetter stores a person's letter and what decide makes of it, in
// one transaction (request.LetterRepository).
func (s *Store) ReceiveLetter(ctx context.Context, l request.Letter, linkSince, requestSince time.Time,
	decide func(request.Thread) (request.LetterDecision, error)) (request.LetterOutcome, error) {
	out := request.LetterDuplicate
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, dup, err := s.insertLetter(ctx, tx, l, true)
		if err != nil || dup {
			return err
		}
		t, err := s.findThread(ctx, tx, id, l, linkSince, requestSince)
		if err != nil {
			return err
		}
		d, err := decide(t)
		if err != nil {
			return err
		}
		done := letterDone{outcome: letterIgnored}
		switch {
		case d.Reply != nil && t.Request != nil:
			if _, err := s.applyChange(ctx, tx, *t.Request, *d.Reply); err != nil {
				return err
			}
			done = letterDone{outcome: letterReply, requestID: t.Request.ID, threadBy: t.By}
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM messages WHERE request_id = $1`, t.Request.ID).Scan(&done.messageID); err != nil {
				return fmt.Errorf("find the reply's message: %w", err)
			}
		case d.New != nil:
			r, err := s.insertRequest(ctx, tx, *d.New)
			if err != nil {
				return err
			}
			done = letterDone{outcome: letterRequest, requestID: r.ID}
			if n := d.Named; n != nil {
				done.namedRequestID, done.namedWhy, done.threadBy = n.ID, n.Why, t.By
			}
		}
		if err := s.finishLetter(ctx, tx, id, done); err != nil {
			return err
		}
		out = request.LetterStored
		return nil
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}

// findThread finds, and locks, the request a letter's keys name: the one
// an email it answers was about (or an earlier letter of the thread), else
// the one its plus-address names, else the one in its subject. A letter's
// request that was merged into another hands its thread on to that one.
func (s *Store) findThread(ctx context.Context, tx pgx.Tx, letterID int64, l request.Letter, linkSince, requestSince time.Time) (request.Thread, error) {
	var t request.Thread
	var id int64
	if len(l.ReplyTo) > 0 {
		// Only this operator's emails and letters: a reply to another
		// operator's email is not a reply to any of this one's requests.
		ownEmail, args := s.ownedBy("e.operator_id", []any{l.ReplyTo, letterID})
		ownLetter, args := s.ownedBy("l.operator_id", args)
		err := tx.QueryRow(ctx, `
			SELECT request_id FROM (
				SELECT e.request_id, array_position($1::text[], e.message_id) AS pos
				FROM emails e WHERE e.message_id = ANY($1) AND e.request_id IS NOT NULL`+ownEmail+`
				UNION ALL
				SELECT l.request_id, array_position($1::text[], l.message_id)
				FROM letters l WHERE l.message_id = ANY($1) AND l.request_id IS NOT NULL AND l.id <> $2`+ownLetter+`
			) m ORDER BY pos LIMIT 1`, args...).Scan(&id)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return t, fmt.Errorf("thread by Message-ID: %w", err)
		}
		t.By = request.ThreadByMessageID
	}
	for _, k := range []struct{ ref, by string }{{l.TagReference, request.ThreadByTag}, {l.SubjectReference, request.ThreadBySubject}} {
		if id != 0 || k.ref == "" {
			continue
		}
		own, args := s.ownedBy("operator_id", []any{k.ref})
		err := tx.QueryRow(ctx, `SELECT id FROM requests WHERE reference = $1`+own, args...).Scan(&id)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return t, fmt.Errorf("thread by reference: %w", err)
		}
		t.By = k.by
	}
	if id == 0 {
		return request.Thread{}, nil
	}
	for range 3 {
		var into *int64
		if err := tx.QueryRow(ctx, `SELECT merged_into FROM requests WHERE id = $1`, id).Scan(&into); err != nil {
			return t, fmt.Errorf("thread: %w", err)
		}
		if into == nil {
			break
		}
		id = *into
	}
	r, err := s.scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+requestFrom+`WHERE r.id = $1`+lockRequest, id))
	if err != nil {
		return t, fmt.Errorf("thread: %w", err)
	}
	t.Request = &r
	var firstLink, firstRequest *time.Time
	err = tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE created_at > $2 AND data->>'via' = 'email'),
			count(*) FILTER (WHERE created_at > $3),
			min(created_at) FILTER (WHERE created_at > $2 AND data->>'via' = 'email'),
			min(created_at) FILTER (WHERE created_at > $3),
			(SELECT coalesce(sum(size), 0) FROM files WHERE request_id = $1 AND purpose = ANY($5))
		FROM events WHERE request_id = $1 AND kind = $4 AND created_at > least($2, $3)`,
		r.ID, linkSince, requestSince, request.EventRequesterReplied, []string{request.FileProof, request.FileRequester}).
		Scan(&t.Usage.LinkReplies, &t.Usage.RequestReplies, &firstLink, &firstRequest, &t.Usage.Stored)
	if err != nil {
		return t, fmt.Errorf("count email replies: %w", err)
	}
	if firstLink != nil {
		t.Usage.FirstLinkReply = *firstLink
	}
	if firstRequest != nil {
		t.Usage.FirstRequestReply = *firstRequest
	}
	return t, nil
}

// ReceiveBounce stores a bounce and, when it names one of rightsdesk's
// emails, what decide makes of it for that email's request, in one
// transaction (request.LetterRepository). A bounce keeps nothing of its
// content: it returns the email that bounced, secret links and all.
func (s *Store) ReceiveBounce(ctx context.Context, l request.Letter,
	decide func(request.Request, request.BouncedEmail) (*request.Change, error)) (request.LetterOutcome, error) {
	out := request.LetterDuplicate
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, dup, err := s.insertLetter(ctx, tx, l, false)
		if err != nil || dup {
			return err
		}
		out = request.LetterStored
		done := letterDone{outcome: letterIgnored}
		if l.Bounce == nil || l.Bounce.OriginalMessageID == "" {
			return s.finishLetter(ctx, tx, id, done)
		}
		var e request.BouncedEmail
		var requestID int64
		own, args := s.ownedBy("operator_id", []any{l.Bounce.OriginalMessageID})
		err = tx.QueryRow(ctx, `SELECT id, kind, request_id FROM emails WHERE message_id = $1 AND request_id IS NOT NULL`+own,
			args...).Scan(&e.ID, &e.Kind, &requestID)
		if errors.Is(err, pgx.ErrNoRows) {
			return s.finishLetter(ctx, tx, id, done)
		}
		if err != nil {
			return fmt.Errorf("find the bounced email: %w", err)
		}
		r, err := s.scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+requestFrom+`WHERE r.id = $1`+lockRequest, requestID))
		if err != nil {
			return fmt.Errorf("the bounced email's request: %w", err)
		}
		ch, err := decide(r, e)
		if err != nil {
			return err
		}
		done.requestID, done.emailID = r.ID, e.ID
		if ch != nil {
			if _, err := s.applyChange(ctx, tx, r, *ch); err != nil {
				return err
			}
			done.outcome = letterBounce
		}
		return s.finishLetter(ctx, tx, id, done)
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}

// RecordLetter keeps a machine's letter by what identifies it
// (request.LetterRepository).
func (s *Store) RecordLetter(ctx context.Context, l request.Letter) (request.LetterOutcome, error) {
	out := request.LetterDuplicate
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, dup, err := s.insertLetter(ctx, tx, l, false)
		if err == nil && !dup {
			out = request.LetterStored
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return out, nil
}

// applyLetterChange applies what a change does for letters: the type
// staff confirmed in triage (with the possible-duplicate link it implies,
// as the intake links a request to an open one of the same person and
// type), and a bounce marked on an email.
func (s *Store) applyLetterChange(ctx context.Context, tx pgx.Tx, r request.Request, ch request.Change) error {
	if t := ch.Retype; t != nil {
		_, err := tx.Exec(ctx, `
			UPDATE requests SET type = $2, access_scope = $3,
				duplicate_of = (SELECT min(o.id) FROM requests o WHERE o.email_index = requests.email_index
					AND o.type = $2 AND o.id < requests.id AND `+StatusIn("o.status", request.OpenStatuses())+`)
			WHERE id = $1`, r.ID, t.Type, t.AccessScope)
		if err != nil {
			return fmt.Errorf("confirm the type of %s: %w", r.Reference, err)
		}
	}
	if b := ch.Bounced; b != nil {
		if _, err := tx.Exec(ctx, `UPDATE emails SET bounced_at = $3, bounce_status = $4 WHERE id = $1 AND request_id = $2`,
			b.EmailID, r.ID, ch.At, b.Status); err != nil {
			return fmt.Errorf("mark email %d bounced: %w", b.EmailID, err)
		}
	}
	return nil
}

// MergeRequest merges the request from into the request into, as
// request.LetterMerger says: both locked in id order, both changes applied,
// and the letter's files (those it came with) and letters moved to into,
// with the message its change adds.
func (s *Store) MergeRequest(ctx context.Context, from, into string, decide func(from, into request.Request) (request.Change, request.Change, error)) (request.Request, error) {
	var out request.Request
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		own, args := s.ownedBy("operator_id", []any{[]string{from, into}})
		rows, err := tx.Query(ctx, `SELECT id FROM requests WHERE reference = ANY($1)`+own+` ORDER BY id FOR NO KEY UPDATE`, args...)
		if err != nil {
			return fmt.Errorf("lock the requests to merge: %w", err)
		}
		if _, err := pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return fmt.Errorf("lock the requests to merge: %w", err)
		}
		own, args = s.ownedBy("r.operator_id", []any{from})
		src, err := s.scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+requestFrom+`WHERE r.reference = $1`+own, args...))
		if err != nil {
			return err
		}
		out = src
		own, args = s.ownedBy("r.operator_id", []any{into})
		dst, err := s.scanRequest(tx.QueryRow(ctx, `SELECT `+requestColumns+requestFrom+`WHERE r.reference = $1`+own, args...))
		if errors.Is(err, ErrNotFound) {
			return request.ErrMergeTarget
		}
		if err != nil {
			return err
		}
		closing, joined, err := decide(src, dst)
		if err != nil {
			return err
		}
		if out, err = s.applyChange(ctx, tx, src, closing); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE requests SET merged_into = $2 WHERE id = $1`, src.ID, dst.ID); err != nil {
			return fmt.Errorf("merge %s: %w", src.Reference, err)
		}
		if _, err := s.applyChange(ctx, tx, dst, joined); err != nil {
			return err
		}
		var messageID int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM messages WHERE request_id = $1`, dst.ID).Scan(&messageID); err != nil {
			return fmt.Errorf("merge %s: %w", src.Reference, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE files SET request_id = $2, message_id = nullif($3, 0)
			WHERE request_id = $1 AND purpose = $4 AND message_id IS NULL`, src.ID, dst.ID, messageID, request.FileRequester); err != nil {
			return fmt.Errorf("move the letter's files: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE letters SET request_id = $2, conversation_message_id = nullif($3, 0)
			WHERE request_id = $1 AND outcome = $4`, src.ID, dst.ID, messageID, letterRequest); err != nil {
			return fmt.Errorf("move the letter: %w", err)
		}
		return nil
	})
	return out, err
}

// StoredLetter is a letter as the staff request page shows it.
type StoredLetter struct {
	ID         int64
	Kind       request.LetterKind
	Source     string
	ReceivedAt time.Time
	Outcome    string
	ThreadBy   string
	// MessageID is the conversation message the letter became (a reply, or
	// a merged letter); 0 for the letter a request came as.
	MessageID int64
	// Named is the request the letter named but did not join, and why.
	Named    RequestLink
	NamedWhy string
	// The type its words suggested, how sure, and the words.
	Suggested  request.Type
	Confidence float64
	Cues       []string
	View       request.LetterView
	// Original says the original is still held (it goes with the files).
	Original bool
}

// LetterInfo is what the request page shows of a request's letters: its
// own, the letters that named it without joining it, and the request it
// was merged into.
type LetterInfo struct {
	Letters    []StoredLetter
	NamedBy    []RequestLink // requests whose letter named this one
	MergedInto RequestLink   // zero when not merged
}

// Letters reads the letters of a request that a person wrote (the one it
// came as, its replies, the ones merged into it), oldest first; a bounce
// shows on the email it reports instead.
func (s *Store) Letters(ctx context.Context, requestID int64) (LetterInfo, error) {
	var info LetterInfo
	rows, err := s.pool.Query(ctx, `
		SELECT l.id, l.kind, l.source, l.received_at, l.outcome, l.thread_by, coalesce(l.conversation_message_id, 0),
			coalesce(n.id, 0), coalesce(n.reference, ''), coalesce(n.status, ''), l.named_why,
			l.suggested_type, l.suggestion_confidence, l.suggestion_cues, l.view, l.raw IS NOT NULL
		FROM letters l LEFT JOIN requests n ON n.id = l.named_request_id
		WHERE l.request_id = $1 AND l.outcome IN ('request', 'reply') ORDER BY l.received_at, l.id`, requestID)
	if err != nil {
		return info, fmt.Errorf("list letters: %w", err)
	}
	info.Letters, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (StoredLetter, error) {
		var l StoredLetter
		var view []byte
		var confidence float32
		if err := row.Scan(&l.ID, &l.Kind, &l.Source, &l.ReceivedAt, &l.Outcome, &l.ThreadBy, &l.MessageID,
			&l.Named.ID, &l.Named.Reference, &l.Named.Status, &l.NamedWhy,
			&l.Suggested, &confidence, &l.Cues, &view, &l.Original); err != nil {
			return l, err
		}
		l.Confidence = float64(confidence)
		plain, err := s.keys.Open(sealed.LetterView, view)
		if err != nil || plain == nil {
			return l, err
		}
		if err := json.Unmarshal(plain, &l.View); err != nil {
			return l, fmt.Errorf("decode letter view: %w", err)
		}
		return l, nil
	})
	if err != nil {
		return info, fmt.Errorf("read letters: %w", err)
	}
	rows, err = s.pool.Query(ctx, `
		SELECT r.id, r.reference, r.status FROM letters l JOIN requests r ON r.id = l.request_id
		WHERE l.named_request_id = $1 ORDER BY l.id`, requestID)
	if err != nil {
		return info, fmt.Errorf("list letters naming a request: %w", err)
	}
	info.NamedBy, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RequestLink, error) {
		var l RequestLink
		err := row.Scan(&l.ID, &l.Reference, &l.Status)
		return l, err
	})
	if err != nil {
		return info, fmt.Errorf("read letters naming a request: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT m.id, m.reference, m.status FROM requests r JOIN requests m ON m.id = r.merged_into
		WHERE r.id = $1`, requestID).Scan(&info.MergedInto.ID, &info.MergedInto.Reference, &info.MergedInto.Status)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return info, fmt.Errorf("read the request merged into: %w", err)
	}
	return info, nil
}

// EmailThread is how an email threads in its recipient's mail client: the
// request it is about and, for an email to a requester who wrote, the
// Message-ID of their last letter received before it and that letter's
// References. A letter's acknowledgement is dated at its receipt (the
// request's clock), so receipt, not the moment the letter was stored, is
// what comes before: the acknowledgement answers the letter in its thread.
type EmailThread struct {
	Reference  string
	InReplyTo  string
	References []string
}

// EmailThreads reads the threads of emails ids, by email id.
func (s *Store) EmailThreads(ctx context.Context, ids []int64) (map[int64]EmailThread, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT e.id, coalesce(r.reference, ''), coalesce(lt.message_id, ''), coalesce(lt.refs, '{}')
		FROM emails e LEFT JOIN requests r ON r.id = e.request_id
		LEFT JOIN LATERAL (
			SELECT l.message_id, l.refs FROM letters l
			WHERE l.request_id = e.request_id AND l.message_id <> '' AND l.named_why = ''
			  AND l.outcome IN ('request', 'reply') AND l.received_at <= e.created_at
			ORDER BY l.received_at DESC, l.id DESC LIMIT 1) lt ON true
		WHERE e.id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read email threads: %w", err)
	}
	out := map[int64]EmailThread{}
	var id int64
	var t EmailThread
	if _, err := pgx.ForEachRow(rows, []any{&id, &t.Reference, &t.InReplyTo, &t.References}, func() error {
		out[id] = t
		t = EmailThread{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read email threads: %w", err)
	}
	return out, nil
}

// PruneLetters forgets what identified machine letters (and letters that
// went nowhere) stored before cutoff: by then no way in brings them again.
func (s *Store) PruneLetters(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM letters WHERE request_id IS NULL AND stored_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune letters: %w", err)
	}
	return tag.RowsAffected(), nil
}
