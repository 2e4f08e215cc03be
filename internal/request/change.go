package request

import (
	"context"
	"time"

	"rightsdesk/internal/deadline"
)

// Change is what a decision does to a request; the store applies it in one
// transaction with its event and emails.
type Change struct {
	To    Status
	Event string
	Actor Actor
	Data  map[string]any
	// Text is what staff typed for the event (the reason for an extension
	// or a recomputed date). It may name the person, so it is kept beside
	// the append-only log, sealed, and goes with the personal data.
	Text        string
	Emails      []OutboxEmail
	ConfirmedAt time.Time // set when the change confirms the request
	At          time.Time
	Messages    []NewMessage
	Files       []File
	// AddStatusLink adds a status link (by its hash); RevokeStatusLinks
	// first makes every earlier one stop working.
	AddStatusLink     []byte
	RevokeStatusLinks bool
	// ActorID is the member of staff behind a staff action (0 for an API
	// key, whose id is in Data as api_key_id: see StaffActor).
	ActorID int64
	// Assign sets the assignee (pointer to 0 for nobody); nil leaves it.
	Assign *int64
	// DueAt moves the deadline; Extended counts it as an extension.
	DueAt    time.Time
	Extended bool
	// OutcomeReason is why a request was rejected.
	OutcomeReason string
	// Download creates an expiring link to the change's (single) file, or
	// to the response file it names.
	Download *NewDownload
	// Identity records an identity check of the requester.
	Identity *IdentityCheck
	// Pause stops the deadline clock at At; Resume clears the pause (the
	// due date has moved by DueAt).
	Pause, Resume bool
	// Rule replaces the rule recorded with the request (a recomputation).
	Rule *deadline.Result
	// DeleteFiles deletes the content of the request's files and their
	// download links with the change, logged as a files_deleted event.
	DeleteFiles bool
	// Retype confirms or changes the right a letter asks for (triage).
	Retype *Retype
	// Bounced marks one of the request's emails as bounced.
	Bounced *EmailBounce
}

// Retype is the type staff confirmed for a letter's request, and for an
// access request which kind of access.
type Retype struct {
	Type        Type
	AccessScope string
}

// EmailBounce is a report that one of the request's emails could not be
// delivered: the email, and the status code the report gave.
type EmailBounce struct {
	EmailID int64
	Status  string
}

// NewMessage is a message added with a change.
type NewMessage struct {
	Author  Actor
	StaffID int64
	Body    string
}

// NewDownload is a download link created with a change.
type NewDownload struct {
	TokenHash []byte
	ExpiresAt time.Time
	// FileID names an earlier response file of the request; 0 is the file
	// the change adds.
	FileID int64
}

// RequestKey names one request: by id, by the hash of its status token, or
// by its reference (the first non-zero field counts).
type RequestKey struct {
	ID              int64
	StatusTokenHash []byte
	Reference       string
}

// ChangeRepository applies decisions to one request: it locks the request,
// asks decide what to do and applies the change with its event, messages,
// files and emails in one transaction. An error from decide changes nothing.
type ChangeRepository interface {
	ChangeRequest(ctx context.Context, key RequestKey, decide func(Request) (Change, error)) (Request, error)
}
