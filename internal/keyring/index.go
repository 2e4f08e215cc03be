package keyring

import (
	"strings"
	"unicode"

	"rightsdesk/internal/identifier"
)

// Searchable is what staff can find a request by, in the clear, before it
// is sealed. Only blind index terms of it reach the database.
type Searchable struct {
	Names     []string // the requester's name, the name of the person acted for
	Email     string
	AccountID string
	Phone     string
}

// Blind index terms are prefixed by what they index, so that a name and an
// account id that happen to be spelt alike stay different terms.
const (
	kindName    = "n:"
	kindEmail   = "e:"
	kindAccount = "a:"
	kindPhone   = "p:"
)

// minPrefix is the shortest beginning of a name word staff can search by:
// shorter beginnings match too many people to be worth the index entries.
const minPrefix = 3

// maxPrefix caps the prefixes indexed per word; a longer search word is
// cut to it (the full word is always indexed as well).
const maxPrefix = 16

// IndexTerms is the search index of a request under the current key: the
// terms of every word of its names and of every beginning of such a word
// (from minPrefix letters), of the email and the part before its @, of the
// account id, and of the phone's digits.
func (kr *Keyring) IndexTerms(s Searchable) [][]byte {
	seen := map[string]bool{}
	var out [][]byte
	h := kr.keys[0].hasher() // one HMAC for the twenty-odd terms of a request
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, h.term(t))
		}
	}
	addWord := func(w string) {
		add(kindName + w)
		r := []rune(w)
		for n := minPrefix; n < len(r) && n <= maxPrefix; n++ {
			add(kindName + string(r[:n]))
		}
	}
	for _, name := range s.Names {
		for _, w := range words(name) {
			addWord(w)
			// "Әл-Фараби" is found as a whole and by each of its parts.
			if parts := parts(w); len(parts) > 1 {
				for _, p := range parts {
					addWord(p)
				}
			}
		}
	}
	if e := fold(s.Email); e != "" {
		add(kindEmail + e)
		if local, _, ok := strings.Cut(e, "@"); ok && local != "" {
			add(kindEmail + local)
		}
	}
	if a := fold(s.AccountID); a != "" {
		add(kindAccount + a)
	}
	if p := phoneDigits(s.Phone); p != "" {
		add(kindPhone + p)
	}
	return out
}

// QueryTerms turns what staff typed into the terms a matching request must
// have: one group per word, and a request matches when its index holds at
// least one term of every group (a word may be a name, the beginning of
// one, an email or the part before its @, an account id or a phone number).
// Each group holds the terms under every key, so that rows not yet
// rewritten by a key rotation are still found. No groups: nothing to search.
func (kr *Keyring) QueryTerms(query string) [][][]byte {
	query = strings.TrimSpace(query)
	var groups [][][]byte
	if e := fold(query); strings.Contains(e, "@") && !strings.ContainsAny(e, " \t") {
		// "john.smith@" is the part before the @, typed with it.
		return [][][]byte{kr.Terms(kindEmail + strings.TrimSuffix(e, "@"))}
	}
	for _, token := range strings.Fields(fold(query)) {
		var g [][]byte
		if w := trimWord(token); w != "" {
			name := w
			if r := []rune(w); len(r) > maxPrefix {
				name = string(r[:maxPrefix]) // indexed as a prefix, or as the full word below
				g = append(g, kr.Terms(kindName+w)...)
			}
			g = append(g, kr.Terms(kindName+name)...)
		}
		if strings.IndexFunc(token, isWordRune) < 0 {
			continue // punctuation only: nothing to find it by
		}
		g = append(g, kr.Terms(kindEmail+token)...)
		g = append(g, kr.Terms(kindAccount+token)...)
		if p := phoneDigits(token); p != "" {
			g = append(g, kr.Terms(kindPhone+p)...)
		}
		groups = append(groups, g)
	}
	// A phone typed with spaces ("+7 701 123 45 67") is one number, not
	// five words.
	if p := phoneDigits(query); p != "" && len(groups) > 1 {
		return [][][]byte{kr.Terms(kindPhone + p)}
	}
	return groups
}

// fold is the form every term is compared in: NFC, lower case, and ё as е
// (Russian writes one for the other freely; staff should not have to guess).
func fold(s string) string {
	return strings.ReplaceAll(strings.ToLower(identifier.Clean(s)), "ё", "е")
}

// words splits a name into folded words at spaces, each without the
// punctuation around it ("Ким," is "ким"); inner punctuation stays
// ("әл-фараби"), and parts splits there.
func words(s string) []string {
	var out []string
	for _, t := range strings.Fields(fold(s)) {
		if w := trimWord(t); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// parts splits a word at its inner punctuation: "әл-фараби" is "әл" and
// "фараби".
func parts(w string) []string {
	return strings.FieldsFunc(w, func(r rune) bool { return !isWordRune(r) })
}

func trimWord(t string) string {
	return strings.TrimFunc(t, func(r rune) bool { return !isWordRune(r) })
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// phoneDigits is a phone number as every part of rightsdesk matches it
// (identifier.Phone: its last ten digits).
func phoneDigits(s string) string { return identifier.Phone(s) }

// EmailTerm is the term value of an email address alone (as IndexTerms
// indexes it), for finding the same person's other requests.
func EmailTerm(email string) string { return kindEmail + fold(email) }
