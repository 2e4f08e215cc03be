package store

import (
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// Personal data is sealed here on its way into the database and opened on
// its way out; nothing above the store sees a ciphertext, and nothing below
// it sees a name. The columns and their shapes are in internal/sealed.

func personalOf(r request.Request) sealed.Personal {
	return sealed.Personal{
		FullName: r.FullName, Email: r.Email, Phone: r.Phone, AccountID: r.AccountID,
		Details: r.Details, SubjectName: r.SubjectName, Correction: r.Correction, Processing: r.Processing,
	}
}

// sealPersonal seals a request's fields and computes its search terms.
func (s *Store) sealPersonal(r request.Request) (doc []byte, index [][]byte, err error) {
	doc, index, _, err = sealed.SealPersonal(s.keys, personalOf(r))
	return doc, index, err
}

// openPersonal fills r's fields from its sealed document; a purged request
// (NULL) keeps them empty.
func (s *Store) openPersonal(doc []byte, r *request.Request) error {
	p, err := s.personal(doc)
	if err != nil {
		return err
	}
	r.FullName, r.Email, r.Phone, r.AccountID = p.FullName, p.Email, p.Phone, p.AccountID
	r.Details, r.SubjectName, r.Correction, r.Processing = p.Details, p.SubjectName, p.Correction, p.Processing
	return nil
}

func (s *Store) personal(doc []byte) (sealed.Personal, error) {
	return sealed.OpenPersonal(s.keys, doc)
}

// openText opens a sealed text column.
func (s *Store) openText(column string, b []byte) (string, error) {
	return s.keys.OpenString(column, b)
}
