package i18n

import (
	"fmt"
	"text/template"
)

// Kazakh case endings follow the last word of a number as it is said
// aloud: 5 is "бес" (front vowels, voiceless end) and takes "-ке", "-тен";
// 10 is "он" (back vowels, nasal end) and takes "-ға", "-нан". A catalog
// writes {{dative .Max}} rather than gluing an ending to the digits, so
// the ending is right for every number.

// numeralSound is what a case ending depends on.
type numeralSound struct {
	back bool // back (hard) vowels: а, о, ұ, ы
	end  byte // 'v' vowel or й/у, 'n' nasal м/н/ң, 'z' other voiced, 's' voiceless
}

var (
	units = [10]numeralSound{
		{false, 'z'}, // нөл
		{false, 'z'}, // бір
		{false, 'v'}, // екі
		{false, 's'}, // үш
		{false, 's'}, // төрт
		{false, 's'}, // бес
		{true, 'v'},  // алты
		{false, 'v'}, // жеті
		{false, 'z'}, // сегіз
		{true, 'z'},  // тоғыз
	}
	tens = [10]numeralSound{
		{}, {true, 'n'}, // он
		{true, 'v'},  // жиырма
		{true, 'z'},  // отыз
		{true, 's'},  // қырық
		{false, 'v'}, // елу
		{true, 's'},  // алпыс
		{false, 's'}, // жетпіс
		{false, 'n'}, // сексен
		{true, 'n'},  // тоқсан
	}
	hundred  = numeralSound{false, 'z'} // жүз
	thousand = numeralSound{true, 'n'}  // мың
	million  = numeralSound{true, 'n'}  // миллион
	billion  = numeralSound{true, 's'}  // миллиард: the final д is said as т
)

// lastWord is the sound of the last word of n said in Kazakh.
func lastWord(n int64) numeralSound {
	if n < 0 {
		n = -n
	}
	switch {
	case n%10 != 0 || n == 0:
		return units[n%10]
	case n%100 != 0:
		return tens[(n/10)%10]
	case n%1000 != 0:
		return hundred
	case n%1_000_000 != 0:
		return thousand
	case n%1_000_000_000 != 0:
		return million
	}
	return billion
}

// Case is a Kazakh grammatical case that numbers take endings in.
type Case int

// The cases catalogs use with numbers.
const (
	Dative   Case = iota // барыс: -ға/-ге, -қа/-ке ("1-ден 100-ге дейін")
	Ablative             // шығыс: -дан/-ден, -нан/-нен, -тан/-тен ("50-ден астам")
	Locative             // жатыс: -да/-де, -та/-те
)

// KazakhEnding returns the ending a number takes in case c, e.g. "ге" for
// 100 in the dative and "нан" for 10 in the ablative.
func KazakhEnding(n int64, c Case) string {
	w := lastWord(n)
	pick := func(back, front string) string {
		if w.back {
			return back
		}
		return front
	}
	switch c {
	case Dative:
		if w.end == 's' {
			return pick("қа", "ке")
		}
		return pick("ға", "ге")
	case Ablative:
		switch w.end {
		case 's':
			return pick("тан", "тен")
		case 'n':
			return pick("нан", "нен")
		}
		return pick("дан", "ден")
	case Locative:
		if w.end == 's' {
			return pick("та", "те")
		}
		return pick("да", "де")
	}
	return ""
}

// numberCases are the catalogs' template functions: {{dative .N}} writes
// "100-ге", {{ablative .N}} "50-ден", {{locative .N}} "3-те".
var numberCases = template.FuncMap{
	"dative":   func(n any) string { return withEnding(n, Dative) },
	"ablative": func(n any) string { return withEnding(n, Ablative) },
	"locative": func(n any) string { return withEnding(n, Locative) },
}

func withEnding(n any, c Case) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	case int32:
		v = int64(x)
	case uint:
		v = int64(x) // #nosec G115 -- counts and limits, far below 2^63
	case uint64:
		v = int64(x) // #nosec G115 -- counts and limits, far below 2^63
	default:
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d-%s", v, KazakhEnding(v, c))
}
