package migrations

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/sealed"
)

// sealVersion is the Go migration between 00014 (room for sealed values)
// and 00016 (clear columns dropped): it seals what an installation stored
// before encryption at rest. It needs the key, which SQL cannot have.
const sealVersion = 15

// errNoKey stops a migration that has data to seal and no key to seal it.
var errNoKey = errors.New("stored data must be encrypted: set ENCRYPTION_KEY")

func sealMigration(kr *keyring.Keyring) *goose.Migration {
	return goose.NewGoMigration(sealVersion,
		&goose.GoFunc{RunTx: func(ctx context.Context, tx *sql.Tx) error { return sealExisting(ctx, tx, kr) }},
		&goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error {
			return errors.New("encryption at rest is not undone by a migration: restore the backup taken before the upgrade")
		}})
}

// sealExisting seals every clear value into its sealed column. A fresh
// database has nothing to seal and needs no key.
func sealExisting(ctx context.Context, tx *sql.Tx, kr *keyring.Keyring) error {
	var rows int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM requests) + (SELECT count(*) FROM emails)
		+ (SELECT count(*) FROM staff WHERE totp_secret <> '') + (SELECT count(*) FROM webhook_endpoints)`).Scan(&rows); err != nil {
		return fmt.Errorf("count rows to seal: %w", err)
	}
	if rows == 0 {
		return nil
	}
	if kr == nil {
		return errNoKey
	}
	if err := sealRequests(ctx, tx, kr); err != nil {
		return err
	}
	for _, c := range []struct{ table, clear, sealed, column string }{
		{"messages", "convert_to(body, 'UTF8')", "body_sealed", sealed.MessageBody},
		{"notes", "convert_to(body, 'UTF8')", "body_sealed", sealed.NoteBody},
		{"files", "convert_to(name, 'UTF8')", "name_sealed", sealed.FileName},
		{"files", "content", "content_sealed", sealed.FileContent},
		{"response_drafts", "convert_to(name, 'UTF8')", "name_sealed", sealed.DraftName},
		{"response_drafts", "content", "content_sealed", sealed.DraftContent},
		{"emails", "convert_to(secrets::text, 'UTF8')", "secrets_sealed", sealed.EmailSecrets},
		{"staff", "convert_to(totp_secret, 'UTF8')", "totp_secret_sealed", sealed.TOTPSecret},
		{"webhook_endpoints", "convert_to(secret, 'UTF8')", "secret_sealed", sealed.WebhookSecret},
	} {
		if err := sealColumn(ctx, tx, kr, c.table, c.clear, c.sealed, c.column); err != nil {
			return err
		}
	}
	if err := sealEmails(ctx, tx, kr); err != nil {
		return err
	}
	return moveEventReasons(ctx, tx, kr)
}

// sealColumn seals one column row by row; a NULL stays NULL.
func sealColumn(ctx context.Context, tx *sql.Tx, kr *keyring.Keyring, table, clear, to, column string) error {
	type value struct {
		id int64
		v  []byte
	}
	values, err := collect(ctx, tx, `SELECT id, `+clear+` FROM `+table+` WHERE `+clear+` IS NOT NULL`, // #nosec G202 -- table and column names are the constants above
		func(rows *sql.Rows) (value, error) {
			var x value
			return x, rows.Scan(&x.id, &x.v)
		})
	if err != nil {
		return fmt.Errorf("read %s: %w", column, err)
	}
	for _, x := range values {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+to+` = $2 WHERE id = $1`, x.id, kr.Seal(column, x.v)); err != nil { // #nosec G202 -- as above
			return fmt.Errorf("seal %s: %w", column, err)
		}
	}
	return nil
}

func sealRequests(ctx context.Context, tx *sql.Tx, kr *keyring.Keyring) error {
	type row struct {
		id     int64
		p      sealed.Personal
		purged bool
	}
	all, err := collect(ctx, tx, `SELECT id, full_name, email, phone, account_id, details, subject_name,
		correction, processing, purged_at IS NOT NULL FROM requests`, func(rows *sql.Rows) (row, error) {
		var r row
		return r, rows.Scan(&r.id, &r.p.FullName, &r.p.Email, &r.p.Phone, &r.p.AccountID, &r.p.Details,
			&r.p.SubjectName, &r.p.Correction, &r.p.Processing, &r.purged)
	})
	if err != nil {
		return fmt.Errorf("read requests: %w", err)
	}
	for _, r := range all {
		if r.purged {
			continue // nothing left to seal; personal stays NULL
		}
		doc, index, emailIndex, err := sealed.SealPersonal(kr, r.p)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET personal = $2, search_index = $3, email_index = $4 WHERE id = $1`,
			r.id, doc, index, emailIndex); err != nil {
			return fmt.Errorf("seal request: %w", err)
		}
	}
	return nil
}

func sealEmails(ctx context.Context, tx *sql.Tx, kr *keyring.Keyring) error {
	type email struct {
		id int64
		e  sealed.OutboxEmail
	}
	docs, err := collect(ctx, tx, `SELECT id, recipient, subject, body_text, body_html FROM emails WHERE recipient <> ''`,
		func(rows *sql.Rows) (email, error) {
			var x email
			return x, rows.Scan(&x.id, &x.e.To, &x.e.Subject, &x.e.Text, &x.e.HTML)
		})
	if err != nil {
		return fmt.Errorf("read emails: %w", err)
	}
	for _, x := range docs {
		doc, err := json.Marshal(x.e)
		if err != nil {
			return fmt.Errorf("encode email: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE emails SET sealed = $2 WHERE id = $1`, x.id, kr.Seal(sealed.Email, doc)); err != nil {
			return fmt.Errorf("seal email: %w", err)
		}
	}
	return nil
}

// moveEventReasons moves the reasons staff typed out of the event log into
// event_texts, sealed. The log refuses changes, so its trigger is switched
// off for this one rewrite, inside the migration's transaction.
func moveEventReasons(ctx context.Context, tx *sql.Tx, kr *keyring.Keyring) error {
	type reason struct {
		id   int64
		text string
	}
	reasons, err := collect(ctx, tx, `SELECT id, data->>'reason' FROM events
		WHERE kind IN ('extended', 'deadline_recomputed') AND coalesce(data->>'reason', '') <> ''`,
		func(rows *sql.Rows) (reason, error) {
			var x reason
			return x, rows.Scan(&x.id, &x.text)
		})
	if err != nil {
		return fmt.Errorf("read event reasons: %w", err)
	}
	if len(reasons) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events DISABLE TRIGGER events_no_update_delete`); err != nil {
		return fmt.Errorf("open the event log for the move: %w", err)
	}
	for _, x := range reasons {
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_texts (event_id, body) VALUES ($1, $2)`, x.id, kr.SealString(sealed.EventText, x.text)); err != nil {
			return fmt.Errorf("move event reason: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE events SET data = data - 'reason' WHERE id = $1`, x.id); err != nil {
			return fmt.Errorf("move event reason: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE events ENABLE TRIGGER events_no_update_delete`); err != nil {
		return fmt.Errorf("close the event log: %w", err)
	}
	return nil
}

// collect reads every row of a query (all of them before the caller
// writes: one connection cannot read and write at once).
func collect[T any](ctx context.Context, tx *sql.Tx, query string, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }() // rows.Err below reports what matters
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
