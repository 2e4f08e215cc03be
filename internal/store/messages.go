package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// Message is one message on a request's conversation.
type Message struct {
	ID     int64
	Author request.Actor
	Body   string
	At     time.Time
	Files  []MessageFile
}

// MessageFile is a file sent with a message, without its content.
type MessageFile struct {
	ID             int64
	Name           string
	ContentType    string
	Size           int64
	Purpose        string
	AvailableUntil *time.Time // for a response file: until when its download links work
	Deleted        bool       // its content was deleted after the retention period
}

// Messages lists a request's conversation, oldest first, with the files
// sent with each message (metadata only).
func (s *Store) Messages(ctx context.Context, requestID int64) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, author, body, created_at FROM messages WHERE request_id = $1 ORDER BY id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	msgs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Message, error) {
		var m Message
		var body []byte
		if err := row.Scan(&m.ID, &m.Author, &body, &m.At); err != nil {
			return m, err
		}
		var err error
		m.Body, err = s.openText(sealed.MessageBody, body)
		return m, err
	})
	if err != nil || len(msgs) == 0 {
		return msgs, err
	}
	rows, err = s.pool.Query(ctx, `
		SELECT f.message_id, f.id, f.name, f.content_type, f.size, f.purpose,
			(SELECT max(expires_at) FROM download_links l WHERE l.file_id = f.id), f.content IS NULL
		FROM files f WHERE f.request_id = $1 AND f.message_id IS NOT NULL ORDER BY f.id`, requestID)
	if err != nil {
		return nil, fmt.Errorf("list message files: %w", err)
	}
	byMessage := map[int64][]MessageFile{}
	var messageID int64
	var f MessageFile
	var name []byte
	if _, err := pgx.ForEachRow(rows, []any{&messageID, &f.ID, &name, &f.ContentType, &f.Size, &f.Purpose, &f.AvailableUntil, &f.Deleted}, func() error {
		var file request.File
		file.ID, file.Purpose = f.ID, f.Purpose
		if err := s.openFileName(name, &file); err != nil {
			return err
		}
		f.Name = file.Name
		byMessage[messageID] = append(byMessage[messageID], f)
		f.AvailableUntil = nil // the next row scans into a fresh pointer
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read message files: %w", err)
	}
	for i := range msgs {
		msgs[i].Files = byMessage[msgs[i].ID]
	}
	return msgs, nil
}

// AddReply adds a requester's reply through a live status link, as
// request.ReplyRepository says: the request is locked, what its replies
// used is counted, decide decides, and the change is applied with the link
// recorded on the reply's event (by its row id), which is what the next
// count per link reads.
func (s *Store) AddReply(ctx context.Context, tokenHash []byte, linkSince, requestSince time.Time,
	decide func(request.Request, request.ReplyUsage) (request.Change, error)) (request.Request, error) {
	var out request.Request
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var linkID int64
		r, err := s.scanRequestWith(tx.QueryRow(ctx, `SELECT `+requestColumns+`, l.id`+requestFrom+`
			JOIN status_links l ON l.request_id = r.id
			WHERE l.token_hash = $1 AND l.revoked_at IS NULL`+lockRequest, tokenHash), &linkID)
		if err != nil {
			return err
		}
		out = r
		var u request.ReplyUsage
		var firstLink, firstRequest *time.Time
		err = tx.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE created_at > $2 AND (data->>'status_link')::bigint = $3),
				count(*) FILTER (WHERE created_at > $4),
				min(created_at) FILTER (WHERE created_at > $2 AND (data->>'status_link')::bigint = $3),
				min(created_at) FILTER (WHERE created_at > $4),
				(SELECT coalesce(sum(size), 0) FROM files WHERE request_id = $1 AND purpose = ANY($6))
			FROM events WHERE request_id = $1 AND kind = $5 AND created_at > least($2, $4)`,
			r.ID, linkSince, linkID, requestSince, request.EventRequesterReplied,
			[]string{request.FileProof, request.FileRequester}).
			Scan(&u.LinkReplies, &u.RequestReplies, &firstLink, &firstRequest, &u.Stored)
		if err != nil {
			return fmt.Errorf("count replies: %w", err)
		}
		if firstLink != nil {
			u.FirstLinkReply = *firstLink
		}
		if firstRequest != nil {
			u.FirstRequestReply = *firstRequest
		}
		ch, err := decide(r, u)
		if err != nil {
			return err
		}
		if ch.Data == nil {
			ch.Data = map[string]any{}
		}
		ch.Data["status_link"] = linkID
		out, err = s.applyChange(ctx, tx, r, ch)
		return err
	})
	return out, err
}
