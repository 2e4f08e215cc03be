package request

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"golang.org/x/text/unicode/norm"

	"rightsdesk/internal/identifier"
)

// Submission is what a person sends, through the form or the API; both use
// these field names. A text field's length limit is its row in
// fieldLimits (the "maxlen" rule), which the form and the API document
// read too.
type Submission struct {
	Type         Type         `json:"type" form:"type" validate:"required"`
	FullName     string       `json:"full_name" form:"full_name" validate:"required,maxlen,singleline"`
	Email        string       `json:"email" form:"email" validate:"required,maxlen,singleline,email"`
	Phone        string       `json:"phone" form:"phone" validate:"omitempty,maxlen,phone"`
	AccountID    string       `json:"account_id" form:"account_id" validate:"omitempty,maxlen,singleline"`
	Details      string       `json:"details" form:"details" validate:"omitempty,maxlen,multiline"`
	Locale       Locale       `json:"locale" form:"locale" validate:"omitempty,oneof=ru kk en"`
	OnBehalf     bool         `json:"on_behalf" form:"on_behalf"`
	SubjectName  string       `json:"subject_name" form:"subject_name" validate:"required_if=OnBehalf true,maxlen,singleline"`
	Relationship Relationship `json:"relationship" form:"relationship" validate:"required_if=OnBehalf true,omitempty,oneof=parent guardian representative"`
	Consent      bool         `json:"consent" form:"consent" validate:"required"`
	AccessScope  string       `json:"access_scope" form:"access_scope" validate:"required_if=Type access,omitempty,oneof=information copy"`
	Correction   string       `json:"correction" form:"correction" validate:"required_if=Type rectification,maxlen,multiline"`
	Processing   string       `json:"processing" form:"processing" validate:"required_if=Type restriction,required_if=Type objection,required_if=Type consent_withdrawal,maxlen,multiline"`
	// Proof of authority, for someone acting for another person (forms only).
	Proof []Upload `json:"-" form:"-" validate:"-"`
	// proofFiles are the accepted Proof files, set by Validate.
	proofFiles []File
	// IdempotencyKey makes a repeated submission return the first one's
	// answer (the API's Idempotency-Key header); reused for other content,
	// it is refused (ErrIdempotencyMismatch).
	IdempotencyKey string `json:"-" form:"-" validate:"-"`
	// FormID is the form's own id, drawn when the form was shown: sent
	// twice (a double click, a resubmission after "back"), the form files
	// one request; sent again with other answers, a new one.
	FormID string `json:"-" form:"-" validate:"-"`
}

// fieldLimits are the most characters each text field of a submission
// may hold, in the order of Submission: the validator's "maxlen" rule, the
// form's maxlength and the API document's maxLength all read them
// (MaxLength).
var fieldLimits = []struct {
	field string
	max   int
}{
	{"full_name", 200},
	{"email", 254}, // the longest address RFC 5321 allows
	{"phone", 30},
	{"account_id", 200},
	{"details", 5000},
	{"subject_name", 200},
	{"correction", 5000},
	{"processing", 2000},
}

// MaxLength is the most characters the submission field of that public
// name may hold; 0 for a field without a length limit (a choice, a flag).
func MaxLength(field string) int {
	for _, l := range fieldLimits {
		if l.field == field {
			return l.max
		}
	}
	return 0
}

// LimitedFields lists the submission's fields that have a length limit.
func LimitedFields() []string {
	out := make([]string, len(fieldLimits))
	for i, l := range fieldLimits {
		out[i] = l.field
	}
	return out
}

// FieldError is one problem with one field, as a message key and its
// parameters; the web layer translates it into the requester's language.
type FieldError struct {
	Key    string
	Params map[string]any
}

// ValidationError carries every field problem of a submission, keyed by the
// field's public name (the JSON and form name).
type ValidationError struct {
	Fields map[string]FieldError
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	return "invalid submission: " + strings.Join(names, ", ")
}

// Add records a problem, keeping the first one found for a field.
func (e *ValidationError) Add(field, key string, params map[string]any) {
	if e.Fields == nil {
		e.Fields = map[string]FieldError{}
	}
	if _, ok := e.Fields[field]; !ok {
		e.Fields[field] = FieldError{Key: key, Params: params}
	}
}

// Validator checks submissions. Build one with NewValidator and share it: the
// underlying validator caches struct metadata and is safe for concurrent use.
type Validator struct {
	v       *validator.Validate
	enabled map[Type]bool
}

var phonePattern = regexp.MustCompile(`^\+?[0-9 ()\-]+$`)

// NewValidator returns a validator that accepts only the enabled types.
func NewValidator(enabled []Type) *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		return strings.SplitN(f.Tag.Get("json"), ",", 2)[0]
	})
	must(v.RegisterValidation("singleline", func(fl validator.FieldLevel) bool {
		return cleanText(fl.Field().String(), false)
	}))
	must(v.RegisterValidation("multiline", func(fl validator.FieldLevel) bool {
		return cleanText(fl.Field().String(), true)
	}))
	must(v.RegisterValidation("maxlen", func(fl validator.FieldLevel) bool {
		limit := MaxLength(fl.FieldName())
		return limit > 0 && utf8.RuneCountInString(fl.Field().String()) <= limit
	}))
	must(v.RegisterValidation("phone", func(fl validator.FieldLevel) bool {
		s := fl.Field().String()
		digits := 0
		for _, c := range s {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		return phonePattern.MatchString(s) && digits >= 5 && digits <= 15
	}))
	on := map[Type]bool{}
	for _, t := range enabled {
		on[t] = true
	}
	return &Validator{v: v, enabled: on}
}

func must(err error) {
	if err != nil {
		panic(err) // a tag registered twice is a programming error
	}
}

// cleanText refuses invalid UTF-8 and control characters: they have no place
// in a name or a message, and CR/LF in a single line could reach a header.
func cleanText(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError || isBidiControl(r) {
			return false
		}
	}
	return true
}

// StaffText is text typed by staff (a note, a question, a reason, a
// response) made fit to store: valid UTF-8 (PostgreSQL refuses anything
// else, and NUL in any case), Unix line ends, no control characters but line
// breaks and tabs, no surrounding space. Staff are trusted to write what
// they mean, so their text is cleaned, not refused.
func StaffText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		if (unicode.IsControl(r) && r != '\n' && r != '\t') || isBidiControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// isBidiControl reports the explicit direction embeddings, overrides and
// isolates (U+202A–U+202E, U+2066–U+2069). Nobody types them, and in a name
// shown to staff they reorder what is displayed ("Trojan Source"), e.g. to
// make one address or file name look like another.
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}

// Normalize trims what people paste, composes Unicode (so lookalike
// sequences compare equal) and drops fields that do not belong to the type.
func (s *Submission) Normalize() {
	for _, p := range []*string{&s.FullName, &s.Email, &s.Phone, &s.AccountID, &s.SubjectName} {
		*p = identifier.Clean(*p)
	}
	for _, p := range []*string{&s.Details, &s.Correction, &s.Processing} {
		*p = norm.NFC.String(strings.TrimSpace(strings.ReplaceAll(*p, "\r\n", "\n")))
	}
	s.Type = Type(strings.TrimSpace(string(s.Type)))
	if !s.OnBehalf {
		s.SubjectName, s.Relationship = "", ""
	}
	if s.Type != Access {
		s.AccessScope = ""
	}
	if s.Type != Rectification {
		s.Correction = ""
	}
	if !s.Type.NeedsProcessing() {
		s.Processing = ""
	}
}

// Validate returns a *ValidationError naming every field that is wrong, or nil.
func (v *Validator) Validate(s *Submission) error {
	verr := &ValidationError{}
	if s.Type != "" && (!s.Type.Valid() || !v.enabled[s.Type]) {
		verr.Add("type", "error.type_not_offered", nil)
	}
	if err := v.v.Struct(s); err != nil {
		var fieldErrs validator.ValidationErrors
		if !asValidationErrors(err, &fieldErrs) {
			return err
		}
		for _, fe := range fieldErrs {
			verr.Add(fe.Field(), messageKey(fe), messageParams(fe))
		}
	}
	if len(s.Proof) > 0 {
		if !s.OnBehalf {
			verr.Add("proof", "error.proof_without_behalf", nil)
		} else {
			s.proofFiles = CheckUploads("proof", FileProof, s.Proof, 0, verr)
			checkStorage("proof", 0, s.proofFiles, verr)
		}
	}
	if len(verr.Fields) > 0 {
		return verr
	}
	return nil
}

func asValidationErrors(err error, target *validator.ValidationErrors) bool {
	ve, ok := err.(validator.ValidationErrors)
	if ok {
		*target = ve
	}
	return ok
}

func messageKey(fe validator.FieldError) string {
	switch {
	case fe.Field() == "consent":
		return "error.consent"
	case (fe.Tag() == "required" || fe.Tag() == "required_if") && (fe.Field() == "access_scope" || fe.Field() == "relationship"):
		return "error.choice"
	case fe.Tag() == "required" || fe.Tag() == "required_if":
		return "error.required"
	case fe.Tag() == "maxlen":
		return "error.too_long"
	case fe.Tag() == "email":
		return "error.email"
	case fe.Tag() == "phone":
		return "error.phone"
	case fe.Tag() == "oneof":
		return "error.choice"
	case fe.Tag() == "singleline" || fe.Tag() == "multiline":
		return "error.characters"
	}
	return "error.invalid"
}

func messageParams(fe validator.FieldError) map[string]any {
	if fe.Tag() == "maxlen" {
		return map[string]any{"Max": strconv.Itoa(MaxLength(fe.Field()))}
	}
	return nil
}
