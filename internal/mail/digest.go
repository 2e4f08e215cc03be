package mail

import (
	"time"

	"rightsdesk/internal/i18n"
)

// DigestLine is one request in a deadline reminder digest: no names, no
// addresses, nothing the requester wrote.
type DigestLine struct {
	Reference   string
	Type        string
	Due         time.Time // the due day's end, in the operator's zone
	DaysLeft    int
	DaysOverdue int
	Overdue     bool
	URL         string
	// Stuck names the systems whose data map step is stuck ("" for none).
	Stuck string

	// Worded by the Composer in the digest's language.
	TypeName string // "Удаление данных"
	DueText  string // "срок: 5 марта 2026 г."
	When     string // "осталось 3 дня", "сегодня последний день", "просрочено на 2 дня"
}

// wordDigest words the lines of a digest in p's language. A digest may hold
// thousands of lines and only a few distinct types, days and dates: each
// phrase is worded once and reused, instead of four catalog lookups per
// line in each of the two templates.
func wordDigest(p *i18n.Printer, lines []DigestLine) []DigestLine {
	out := make([]DigestLine, len(lines))
	types := map[string]string{}
	dues := map[time.Time]string{}
	type when struct {
		overdue bool
		days    int
	}
	whens := map[when]string{}
	for i, l := range lines {
		if _, ok := types[l.Type]; !ok {
			types[l.Type] = p.T("type." + l.Type + ".name")
		}
		if _, ok := dues[l.Due]; !ok {
			dues[l.Due] = p.T("email.reminder_digest.due", "Date", p.Date(l.Due))
		}
		w := when{l.Overdue, l.DaysLeft}
		if l.Overdue {
			w.days = l.DaysOverdue
		}
		if _, ok := whens[w]; !ok {
			switch {
			case l.Overdue:
				whens[w] = p.N("reminders.overdue_by", l.DaysOverdue)
			case l.DaysLeft == 0:
				whens[w] = p.T("reminders.due_today")
			default:
				whens[w] = p.N("reminders.days_left", l.DaysLeft)
			}
		}
		l.TypeName, l.DueText, l.When = types[l.Type], dues[l.Due], whens[w]
		out[i] = l
	}
	return out
}
