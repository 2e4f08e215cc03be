package app

import (
	"context"
	"time"

	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
)

// deskNotes keeps the desk's notes in the store: a member of staff's as
// theirs, an API key's as the key's (notes has a column for each author).
type deskNotes struct{ st *store.Store }

func (n deskNotes) AddNote(ctx context.Context, requestID int64, by request.StaffActor, body string, at time.Time) (request.Note, error) {
	var note store.Note
	var err error
	if by.APIKeyID != 0 {
		note, err = n.st.AddAPINote(ctx, requestID, by.APIKeyID, body, at)
	} else {
		note, err = n.st.AddNote(ctx, requestID, by.StaffID, body, at)
	}
	return request.Note{ID: note.ID, Author: note.StaffName, Body: note.Body, At: note.At}, err
}
