package datamap

// Category is the kind of personal data a field holds, from a fixed
// vocabulary so that the requester reads the same words on every
// operator's page (labels: web/locales/*/datamap.toml, datamap.category.*).
type Category string

// The categories.
const (
	CategoryIdentity      Category = "identity"      // name, date of birth, document numbers
	CategoryContact       Category = "contact"       // email, phone, postal address
	CategoryAccount       Category = "account"       // login, settings, preferences
	CategoryEducation     Category = "education"     // enrolments, courses, grades, certificates
	CategoryFinancial     Category = "financial"     // payments, invoices, bank details
	CategoryCommunication Category = "communication" // messages, forum posts, comments
	CategoryActivity      Category = "activity"      // logs, visits, IP addresses, devices
	CategorySpecial       Category = "special"       // health, disability, biometrics
)

// Categories lists the vocabulary in the order the access page shows it.
func Categories() []Category {
	return []Category{CategoryIdentity, CategoryContact, CategoryAccount, CategoryEducation,
		CategoryFinancial, CategoryCommunication, CategoryActivity, CategorySpecial}
}

// Valid reports whether c is in the vocabulary.
func (c Category) Valid() bool {
	for _, k := range Categories() {
		if c == k {
			return true
		}
	}
	return false
}

// LabelKey is the catalog key of the category's name.
func (c Category) LabelKey() string { return "datamap.category." + string(c) }
