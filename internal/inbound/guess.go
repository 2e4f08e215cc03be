package inbound

import (
	"sort"
	"strings"
	"unicode"

	"rightsdesk/internal/request"
)

// kazakhLetters are the Cyrillic letters Kazakh has and Russian has not.
const kazakhLetters = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"

// GuessLanguage guesses the language of a letter's text: Kazakh when its
// Cyrillic has Kazakh's own letters (ә ғ қ ң ө ұ ү һ і) often enough to be
// more than a Kazakh name in a Russian letter, Russian for other Cyrillic,
// English for Latin. Mixed text goes by the script most of its letters are
// written in. Text without letters gives "": the caller keeps its default.
func GuessLanguage(text string) request.Locale {
	var cyr, kaz, lat int
	for _, r := range text {
		switch {
		case strings.ContainsRune(kazakhLetters, r):
			kaz++
			cyr++
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
		case unicode.Is(unicode.Latin, r):
			lat++
		}
	}
	switch {
	case cyr == 0 && lat == 0:
		return ""
	case lat > cyr:
		return request.English
	// One Kazakh letter in fifty is far more than a Russian letter that
	// only names "Нұрлан" has, and far less than Kazakh prose (one in ten
	// to twenty); two at least, unless the text is a word or two ("Сәлем").
	case kaz >= 2 && kaz*50 >= cyr, kaz*10 >= cyr:
		return request.Kazakh
	default:
		return request.Russian
	}
}

// Suggestion is the request type a letter's words suggest.
type Suggestion struct {
	Type request.Type // "" when no word points to any type
	// Confidence is between 0 and 1: how strongly and how exclusively the
	// words point to Type. Staff always confirm or change it.
	Confidence float64
	// Words are the cues that matched (the table's stems), for staff to see
	// why.
	Words []string
}

// cue is a word, or a phrase of words, that suggests a type. Each stem
// matches the beginning of a word ("удал" matches удалить, удаление,
// удалите), so one cue covers a word's forms; a phrase's stems must come in
// order with at most two other words between them.
type cue struct {
	typ    request.Type
	stems  []string
	weight int
}

func c(t request.Type, weight int, stems ...string) cue {
	return cue{typ: t, stems: stems, weight: weight}
}

// cues is the one table of words that suggest a request type, in Russian,
// Kazakh and English. Weight 3 is a word that names the right itself,
// 2 a strong sign, 1 a word that often but not always means it
// ("копия" may be a copy of a passport sent as proof).
var cues = []cue{
	// erasure
	c(request.Erasure, 3, "удал"), c(request.Erasure, 3, "уничтож"), c(request.Erasure, 2, "стереть"),
	c(request.Erasure, 3, "жою"), c(request.Erasure, 3, "жойы"), c(request.Erasure, 2, "өшір"),
	c(request.Erasure, 3, "delet"), c(request.Erasure, 3, "erase"), c(request.Erasure, 3, "erasure"),
	c(request.Erasure, 2, "remove", "data"), c(request.Erasure, 3, "forgotten"),
	// access
	c(request.Access, 2, "доступ"), c(request.Access, 1, "копи"), c(request.Access, 2, "копи", "данн"),
	c(request.Access, 2, "какие", "данн"), c(request.Access, 2, "ознаком"), c(request.Access, 2, "предостав", "сведени"),
	c(request.Access, 2, "көшірме"), c(request.Access, 2, "қол", "жеткіз"), c(request.Access, 2, "қандай", "дерек"), c(request.Access, 2, "таныс"),
	c(request.Access, 2, "access"), c(request.Access, 1, "copy"), c(request.Access, 2, "copy", "data"), c(request.Access, 2, "what", "data"),
	// rectification
	c(request.Rectification, 3, "исправ"), c(request.Rectification, 2, "неверн"), c(request.Rectification, 2, "уточн"), c(request.Rectification, 1, "измен"),
	c(request.Rectification, 3, "түзет"), c(request.Rectification, 2, "өзгерт"), c(request.Rectification, 2, "қате"),
	c(request.Rectification, 3, "correct"), c(request.Rectification, 3, "rectif"), c(request.Rectification, 2, "inaccurate"), c(request.Rectification, 1, "update", "my"),
	// consent withdrawal
	c(request.ConsentWithdrawal, 4, "отозва", "соглас"), c(request.ConsentWithdrawal, 4, "отзыв", "соглас"),
	c(request.ConsentWithdrawal, 4, "келісім", "кері"), c(request.ConsentWithdrawal, 3, "келісім", "қайтар"),
	c(request.ConsentWithdrawal, 4, "withdraw", "consent"), c(request.ConsentWithdrawal, 4, "revok", "consent"),
	// restriction
	c(request.Restriction, 3, "огранич"), c(request.Restriction, 3, "блокир"), c(request.Restriction, 3, "заблокир"), c(request.Restriction, 2, "приостанов"),
	c(request.Restriction, 3, "бұғатта"), c(request.Restriction, 2, "шектеу"), c(request.Restriction, 2, "шектең"),
	c(request.Restriction, 3, "restrict"), c(request.Restriction, 2, "block"),
	// objection
	c(request.Objection, 3, "возража"), c(request.Objection, 3, "возражени"), c(request.Objection, 2, "против", "обработк"),
	c(request.Objection, 3, "қарсылық"), c(request.Objection, 3, "қарсымын"),
	c(request.Objection, 3, "object"),
	// portability
	c(request.Portability, 3, "перенес"), c(request.Portability, 3, "перенос"), c(request.Portability, 2, "переда", "другому"),
	c(request.Portability, 3, "тасымал"), c(request.Portability, 2, "басқа", "оператор"),
	c(request.Portability, 3, "portab"), c(request.Portability, 2, "transfer", "data"), c(request.Portability, 2, "machine-readable"),
}

// SuggestType suggests the type a letter asks for from its words. Each cue
// counts once; the type with the most weight wins, and its confidence is
// how much of all matched weight it has times how strong it is on its own
// (a weight of 4 or more is full strength). With a tie or no cue, there is
// no suggestion.
func SuggestType(text string) Suggestion {
	words := splitWords(text)
	score := map[request.Type]int{}
	matched := map[request.Type][]string{}
	for _, cu := range cues {
		if matchCue(words, cu.stems) {
			score[cu.typ] += cu.weight
			matched[cu.typ] = append(matched[cu.typ], strings.Join(cu.stems, " "))
		}
	}
	type ts struct {
		t request.Type
		s int
	}
	var ranked []ts
	total := 0
	for t, s := range score {
		ranked = append(ranked, ts{t, s})
		total += s
	}
	if len(ranked) == 0 {
		return Suggestion{}
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].s != ranked[j].s {
			return ranked[i].s > ranked[j].s
		}
		return ranked[i].t < ranked[j].t
	})
	if len(ranked) > 1 && ranked[0].s == ranked[1].s {
		return Suggestion{}
	}
	best := ranked[0]
	strength := float64(best.s) / 4
	if strength > 1 {
		strength = 1
	}
	conf := strength * float64(best.s) / float64(total)
	return Suggestion{Type: best.t, Confidence: float64(int(conf*100+0.5)) / 100, Words: matched[best.t]}
}

// splitWords lower-cases text and splits it into words of letters, digits
// and inner hyphens.
func splitWords(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-'
	})
}

// matchCue reports whether the stems appear in order as word beginnings,
// with at most two words between each.
func matchCue(words, stems []string) bool {
	for i, w := range words {
		if !strings.HasPrefix(w, stems[0]) {
			continue
		}
		pos, ok := i, true
		for _, stem := range stems[1:] {
			found := -1
			for j := pos + 1; j < len(words) && j <= pos+3; j++ {
				if strings.HasPrefix(words[j], stem) {
					found = j
					break
				}
			}
			if found < 0 {
				ok = false
				break
			}
			pos = found
		}
		if ok {
			return true
		}
	}
	return false
}
