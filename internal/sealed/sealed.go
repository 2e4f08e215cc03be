// Package sealed names the encrypted values rightsdesk keeps in PostgreSQL
// and the shape of each: the store writes and reads them, the migration that
// introduced encryption and `rightsdesk key rotate` rewrite them, and all
// three must agree byte for byte.
package sealed

import (
	"bytes"
	"encoding/json"
	"fmt"

	"rightsdesk/internal/keyring"
)

// Columns holding sealed values; each is also the additional data the value
// is sealed with, so a value copied into another column does not open.
const (
	RequestPersonal = "requests.personal"
	MessageBody     = "messages.body"
	NoteBody        = "notes.body"
	FileName        = "files.name"
	FileContent     = "files.content"
	DraftName       = "response_drafts.name"
	DraftContent    = "response_drafts.content"
	Email           = "emails.sealed"
	EmailSecrets    = "emails.secrets" // #nosec G101 -- a column name, not a credential
	EventText       = "event_texts.body"
	TOTPSecret      = "staff.totp_secret"        // #nosec G101 -- a column name, not a credential
	WebhookSecret   = "webhook_endpoints.secret" // #nosec G101 -- a column name, not a credential
	// The data map's answers (internal/fulfil): the plan (it holds the
	// identifiers rows are matched by), the rows a step gathered, the access
	// package and its preview, and what an operator's system answered.
	FulfilmentPlan    = "fulfilments.plan"
	FulfilmentPackage = "fulfilments.package"
	FulfilmentSummary = "fulfilments.summary"
	StepRows          = "fulfilment_steps.rows"
	StepDetail        = "fulfilment_steps.detail"
	StepPollURL       = "fulfilment_steps.poll_url"
	LetterRaw         = "letters.raw"
	LetterView        = "letters.view"
)

// Column is one sealed column: where it is, for rewriting it in batches.
type Column struct {
	Name  string // the additional data, as above
	Table string
	Col   string
	Key   string // the table's primary key column
	// Deployment is set for a column of a table that belongs to no
	// operator (staff accounts): its values are sealed with the deployment's
	// keys, every other column's with its operator's (issue 15).
	Deployment bool
}

// All lists every sealed column, for key rotation.
func All() []Column {
	return []Column{
		{Name: RequestPersonal, Table: "requests", Col: "personal", Key: "id"},
		{Name: MessageBody, Table: "messages", Col: "body", Key: "id"},
		{Name: NoteBody, Table: "notes", Col: "body", Key: "id"},
		{Name: FileName, Table: "files", Col: "name", Key: "id"},
		{Name: FileContent, Table: "files", Col: "content", Key: "id"},
		{Name: DraftName, Table: "response_drafts", Col: "name", Key: "id"},
		{Name: DraftContent, Table: "response_drafts", Col: "content", Key: "id"},
		{Name: Email, Table: "emails", Col: "sealed", Key: "id"},
		{Name: EmailSecrets, Table: "emails", Col: "secrets", Key: "id"},
		{Name: EventText, Table: "event_texts", Col: "body", Key: "event_id"},
		{Name: TOTPSecret, Table: "staff", Col: "totp_secret", Key: "id", Deployment: true},
		{Name: WebhookSecret, Table: "webhook_endpoints", Col: "secret", Key: "id"},
		{Name: FulfilmentPlan, Table: "fulfilments", Col: "plan", Key: "id"},
		{Name: FulfilmentPackage, Table: "fulfilments", Col: "package", Key: "id"},
		{Name: FulfilmentSummary, Table: "fulfilments", Col: "summary", Key: "id"},
		{Name: StepRows, Table: "fulfilment_steps", Col: "rows", Key: "id"},
		{Name: StepDetail, Table: "fulfilment_steps", Col: "detail", Key: "id"},
		{Name: StepPollURL, Table: "fulfilment_steps", Col: "poll_url", Key: "id"},
		{Name: LetterRaw, Table: "letters", Col: "raw", Key: "id"},
		{Name: LetterView, Table: "letters", Col: "view", Key: "id"},
	}
}

// Personal is the requester's fields of a request, sealed together in
// requests.personal.
type Personal struct {
	FullName    string `json:"n,omitempty"`
	Email       string `json:"e,omitempty"`
	Phone       string `json:"p,omitempty"`
	AccountID   string `json:"a,omitempty"`
	Details     string `json:"d,omitempty"`
	SubjectName string `json:"s,omitempty"`
	Correction  string `json:"c,omitempty"`
	Processing  string `json:"r,omitempty"`
}

// Searchable is what staff search a request by.
func (p Personal) Searchable() keyring.Searchable {
	return keyring.Searchable{
		Names: []string{p.FullName, p.SubjectName}, Email: p.Email,
		AccountID: p.AccountID, Phone: p.Phone,
	}
}

// EmailIndex is the term for finding the same person's other requests.
func EmailIndex(kr *keyring.Keyring, email string) []byte {
	return kr.Term(keyring.EmailTerm(email))
}

// EmailIndexes is EmailIndex under every key (during a rotation).
func EmailIndexes(kr *keyring.Keyring, email string) [][]byte {
	return kr.Terms(keyring.EmailTerm(email))
}

// OutboxEmail is what an email says and to whom, sealed in emails.sealed.
type OutboxEmail struct {
	To      string `json:"to"`
	Subject string `json:"s"`
	Text    string `json:"t"`
	HTML    string `json:"h"`
}

// SealOutboxEmail seals an email for emails.sealed.
func SealOutboxEmail(kr *keyring.Keyring, e OutboxEmail) ([]byte, error) {
	plain, err := encode(e)
	if err != nil {
		return nil, fmt.Errorf("encode email: %w", err)
	}
	return kr.Seal(Email, plain), nil
}

// encode is JSON without escaping <, > and & (json.Marshal writes each as
// six bytes, a third more of an HTML body to seal, store and open again);
// the document is only ever read back by encoding/json.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// SealPersonal seals a request's fields and computes its search terms and
// email term, as requests.personal, search_index and email_index hold them.
func SealPersonal(kr *keyring.Keyring, p Personal) (doc []byte, index [][]byte, emailIndex []byte, err error) {
	plain, err := encode(p)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode personal data: %w", err)
	}
	return kr.Seal(RequestPersonal, plain), kr.IndexTerms(p.Searchable()), EmailIndex(kr, p.Email), nil
}

// OpenPersonal opens requests.personal; NULL (purged) opens to nothing.
func OpenPersonal(kr *keyring.Keyring, doc []byte) (Personal, error) {
	var p Personal
	plain, err := kr.Open(RequestPersonal, doc)
	if err != nil || plain == nil {
		return p, err
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, fmt.Errorf("decode personal data: %w", err)
	}
	return p, nil
}
