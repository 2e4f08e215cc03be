package inbound

import (
	"regexp"
	"strings"
)

// The lines that start a quoted history, as the mail clients our
// correspondents use write them.
var (
	// "On Fri, 6 Mar 2026 at 14:21, Name <a@b> wrote:" (Gmail, Apple Mail,
	// Thunderbird), "... пишет:" / "... написал(а):" (Russian clients),
	// "... жазды:" (Kazakh Gmail).
	wroteLine = regexp.MustCompile(`(?i)(\bwrote|\bwrites|пишет|написал|написала|написал\(а\)|жазды|жазған)\s*:\s*$`)
	// Gmail, Yandex and Mail.ru in Russian and Kazakh name the sender and
	// the date and end with the address and a colon: "пт, 6 мар. 2026 г. в
	// 14:21, Имя <a@b>:", "06.03.2026, 14:21, "Имя" <a@b>:", "Пятница, 6
	// марта 2026, 14:21 +05:00 от Имя <a@b>:".
	addressColonLine = regexp.MustCompile(`\d.*(<[^<>@\s]+@[^<>\s]+>|[^\s<>@]+@[^\s<>@]+\.[a-zA-Z]{2,})\s*:\s*$`)
	// Outlook's separators in the languages it speaks here.
	originalMessage = regexp.MustCompile(`(?i)^\s*-{2,}\s*(original message|исходное сообщение|пересылаемое сообщение|forwarded message|бастапқы хабар(лама)?|бастапқы хат|жіберілген хабар(лама)?)\s*-{2,}\s*$`)
	// Yandex and Mail.ru fence forwarded and quoted letters with dashes:
	// "-------- Пересылаемое сообщение --------", "----- Original message -----".
	underscoreLine = regexp.MustCompile(`^\s*_{10,}\s*$`)
	// Outlook's header block: From: (От: / Кімнен:) followed by Sent: (or
	// Date:) within the next lines.
	fromField = regexp.MustCompile(`(?i)^\s*\*?(from|от|кімнен|кiмнен)\s*:\*?\s*\S`)
	sentField = regexp.MustCompile(`(?i)^\s*\*?(sent|date|отправлено|дата|жіберілді|жiберiлдi|күні|уақыты)\s*:\*?\s*\S`)
	// A signature delimiter: "-- " (the space is often lost on the way).
	sigDelimiter = regexp.MustCompile(`^--\s?$`)
	// What phone mail apps add under a reply.
	mobileSignature = regexp.MustCompile(`(?i)^\s*(sent from my \w+|sent from (mail|outlook|yahoo mail|gmail)\b.*|get outlook for \w+.*|отправлено (с|из) .*|отправлено с моего .*|\S+(нан|нен|дан|ден|тан|тен)\s+жіберілді\.?)\s*$`)
)

// TrimReply returns the new text of a reply: the text before its quoted
// history (a "wrote:" line, Gmail's, Yandex's and Mail.ru's quote headers,
// Outlook's "-----Original Message-----" and From:/Sent: blocks), without
// ">" quoted lines and without a signature after "-- ". When trimming
// would leave nothing (everything was quoted), the text is returned whole:
// better too much than nothing.
func TrimReply(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	cut := len(lines)
	for i := 0; i < len(lines); i++ {
		if quoteStarts(lines, i) {
			cut = i
			break
		}
	}
	// A "wrote:" header broken over two lines by the client.
	if cut > 0 && cut < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[cut]), "wrote") {
		cut--
	}
	kept := make([]string, 0, cut)
	for _, line := range lines[:cut] {
		if sigDelimiter.MatchString(line) {
			break
		}
		if strings.HasPrefix(strings.TrimLeft(line, " "), ">") {
			continue
		}
		kept = append(kept, line)
	}
	for len(kept) > 0 {
		last := strings.TrimSpace(kept[len(kept)-1])
		if last == "" || mobileSignature.MatchString(last) {
			kept = kept[:len(kept)-1]
			continue
		}
		break
	}
	out := CleanText(strings.Join(kept, "\n"))
	if out == "" {
		return CleanText(text)
	}
	return out
}

func quoteStarts(lines []string, i int) bool {
	line := strings.TrimSpace(lines[i])
	if line == "" {
		return false
	}
	if originalMessage.MatchString(line) {
		return true
	}
	if wroteLine.MatchString(line) {
		return true
	}
	// Two lines: "On Fri, 6 Mar 2026 at 14:21, Name <a@b>" / "wrote:".
	if i+1 < len(lines) && strings.HasPrefix(strings.ToLower(line), "on ") &&
		wroteLine.MatchString(line+" "+strings.TrimSpace(lines[i+1])) {
		return true
	}
	if addressColonLine.MatchString(line) && !strings.HasPrefix(line, ">") && looksLikeQuoteHeader(lines, i) {
		return true
	}
	if underscoreLine.MatchString(line) || fromField.MatchString(line) {
		for j := i + 1; j < len(lines) && j <= i+4; j++ {
			next := strings.TrimSpace(lines[j])
			if sentField.MatchString(next) {
				return true
			}
		}
	}
	return false
}

// looksLikeQuoteHeader says whether an "... <a@b>:" line opens a quote:
// what follows it (after empty lines) is quoted with ">" or it is the
// last thing but quoted lines, as Gmail, Yandex and Mail.ru write them.
func looksLikeQuoteHeader(lines []string, i int) bool {
	for j := i + 1; j < len(lines); j++ {
		next := strings.TrimSpace(lines[j])
		if next == "" {
			continue
		}
		return strings.HasPrefix(next, ">")
	}
	return true
}
