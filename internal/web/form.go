package web

import (
	"strings"

	"rightsdesk/internal/i18n"
	"rightsdesk/internal/request"
)

// formView is what the request form template needs.
type formView struct {
	L               *i18n.Printer
	Type            request.Type
	Form            request.Submission
	Err             map[string]string
	ErrorList       []formError
	NeedsProcessing bool
	Relationships   []string
	// FormID identifies one rendering of the form, so that sending it
	// twice files one request.
	FormID string
	// Period says how long the answer may take and whether the law or the
	// operator sets that.
	Period string
}

type formError struct{ Name, Label, Message string }

// fieldSpec describes a text field of the form; its length limit is the
// domain's (request.MaxLength).
type fieldSpec struct {
	kind, autocomplete string
	required, hint     bool
}

var formFields = map[string]fieldSpec{
	"full_name":    {kind: "text", autocomplete: "name", required: true},
	"email":        {kind: "email", autocomplete: "email", required: true, hint: true},
	"phone":        {kind: "tel", autocomplete: "tel"},
	"account_id":   {kind: "text", autocomplete: "username", hint: true},
	"details":      {kind: "textarea", hint: true},
	"correction":   {kind: "textarea", required: true, hint: true},
	"processing":   {kind: "textarea", required: true},
	"subject_name": {kind: "text", autocomplete: "off"},
}

// fieldOrder is the order of fields on the page, for the error summary.
var fieldOrder = []string{"type", "access_scope", "correction", "processing", "details", "full_name", "email", "phone", "account_id", "on_behalf", "subject_name", "relationship", "proof", "consent", "locale"}

func newFormView(p *i18n.Printer, t request.Type, sub request.Submission, verr *request.ValidationError) formView {
	v := formView{
		L: p, Type: t, Form: sub, Err: map[string]string{}, NeedsProcessing: t.NeedsProcessing(),
		Relationships: []string{string(request.Parent), string(request.Guardian), string(request.Representative)},
	}
	if id, err := request.NewToken(nil); err == nil {
		v.FormID = id.Plain
	}
	if verr == nil {
		return v
	}
	for _, name := range fieldOrder {
		fe, ok := verr.Fields[name]
		if !ok {
			continue
		}
		msg := p.Params(fe.Key, fe.Params)
		v.Err[name] = msg
		v.ErrorList = append(v.ErrorList, formError{Name: name, Label: v.label(name), Message: msg})
	}
	return v
}

func (v formView) label(name string) string {
	switch name {
	case "processing":
		return v.L.T("field.processing." + string(v.Type))
	case "consent":
		return v.L.T("field.consent.short")
	}
	return v.L.T("field." + name)
}

// fieldView is what the "field" partial renders: a labelled input or text
// box with its hint and error, tied to it for screen readers. The public
// forms and the staff request page's action forms both draw theirs with it.
type fieldView struct {
	ID, Name, Label, Hint, Error, Value, Kind, Autocomplete, Described string
	RequiredText, ErrorPrefix                                          string
	Max, Rows                                                          int // Max 0: no maxlength
	Required                                                           bool
}

// describe ties the field to its hint and error (ids the partial gives them).
func (f *fieldView) describe() {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	f.Described = strings.Join(ids, " ")
}

// Field describes one text field, with its value and error, for the partial.
func (v formView) Field(name string) fieldView {
	spec := formFields[name]
	f := fieldView{
		ID: "f-" + name, Name: name, Label: v.label(name), Kind: spec.kind, Autocomplete: spec.autocomplete,
		Max: request.MaxLength(name), Rows: 5, Required: spec.required, Error: v.Err[name],
		RequiredText: v.L.T("form.required"), ErrorPrefix: v.L.T("form.error_prefix"),
		Value: v.value(name),
	}
	if spec.hint {
		f.Hint = v.L.T("field." + name + ".hint")
	}
	f.describe()
	return f
}

func (v formView) value(name string) string {
	s := v.Form
	switch name {
	case "full_name":
		return s.FullName
	case "email":
		return s.Email
	case "phone":
		return s.Phone
	case "account_id":
		return s.AccountID
	case "details":
		return s.Details
	case "correction":
		return s.Correction
	case "processing":
		return s.Processing
	case "subject_name":
		return s.SubjectName
	}
	return ""
}
