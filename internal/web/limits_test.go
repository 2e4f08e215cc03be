package web

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"

	"rightsdesk/internal/request"
)

// Each form control on a page, its name and its maxlength.
var (
	formControl = regexp.MustCompile(`<(?:input|textarea)\b[^>]*>`)
	controlName = regexp.MustCompile(`\bname="([a-z_]+)"`)
	maxlength   = regexp.MustCompile(`\bmaxlength="(\d*)"`)
)

// The form's maxlength and the API document's maxLength say what the
// validator enforces (request.MaxLength): one limit per field, read by all
// three.
func TestTheFormTheAPIDocumentAndTheValidatorAgreeOnFieldLimits(t *testing.T) {
	fz := newFuzzServer(t)
	onForms := map[string]int{}
	for _, typ := range request.AllTypes() {
		rec := fz.do(httptest.NewRequest("GET", "/request/"+string(typ), nil))
		if rec.Code != 200 {
			t.Fatalf("form %s: %d", typ, rec.Code)
		}
		for _, control := range formControl.FindAllString(rec.Body.String(), -1) {
			name := controlName.FindStringSubmatch(control)
			if name == nil || request.MaxLength(name[1]) == 0 {
				continue // a choice, a flag, a file, the form's own id
			}
			var given string
			if m := maxlength.FindStringSubmatch(control); m != nil {
				given = m[1]
			}
			n, err := strconv.Atoi(given)
			if err != nil || n != request.MaxLength(name[1]) {
				t.Errorf("form %s: %s has maxlength %q, the validator allows %d", typ, name[1], given, request.MaxLength(name[1]))
			}
			onForms[name[1]] = n
		}
	}

	rec := fz.do(httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	var doc struct {
		Components struct {
			Schemas struct {
				Submission struct {
					Properties map[string]struct {
						MaxLength *int `json:"maxLength"`
					} `json:"properties"`
				} `json:"Submission"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	props := doc.Components.Schemas.Submission.Properties
	for _, field := range request.LimitedFields() {
		if _, ok := onForms[field]; !ok {
			t.Errorf("%s: on no form", field)
		}
		if p, ok := props[field]; !ok || p.MaxLength == nil || *p.MaxLength != request.MaxLength(field) {
			t.Errorf("%s: the API document says %+v, the validator allows %d", field, p.MaxLength, request.MaxLength(field))
		}
	}
	for name, p := range props {
		if p.MaxLength != nil && request.MaxLength(name) == 0 {
			t.Errorf("the API document limits %s, the validator does not", name)
		}
	}
}
