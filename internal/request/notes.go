package request

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"
)

// Note is an internal note on a request: written by staff for staff, never
// shown to the requester or sent anywhere.
type Note struct {
	ID     int64
	Author string // the member of staff's name, or "API: " and the key's
	Body   string
	At     time.Time
}

// MaxNoteLength bounds a note.
const MaxNoteLength = MaxReplyLength

// ErrNoteInvalid refuses a note that is empty or longer than MaxNoteLength.
var ErrNoteInvalid = errors.New("note empty or too long")

// NoteRepository keeps notes. AddNote writes a note by its author and logs
// who added it (the event holds the note's id, never its text), in one
// transaction.
type NoteRepository interface {
	AddNote(ctx context.Context, requestID int64, by StaffActor, body string, at time.Time) (Note, error)
}

// AddNote adds an internal note to r. Notes are the one text staff type
// that never leaves rightsdesk, so they need no preview and no state: a
// closed request takes notes too. The text is cleaned as all staff text is
// (StaffText).
func (d *Desk) AddNote(ctx context.Context, r Request, by StaffActor, text string) (Note, error) {
	if err := by.check(); err != nil {
		return Note{}, err
	}
	text = StaffText(text)
	if text == "" || utf8.RuneCountInString(text) > MaxNoteLength {
		return Note{}, ErrNoteInvalid
	}
	return d.Notes.AddNote(ctx, r.ID, by, text, d.Clock.Now())
}
