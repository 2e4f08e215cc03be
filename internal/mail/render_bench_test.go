package mail_test

import (
	"testing"
	"time"

	"rightsdesk/internal/request"
)

// BenchmarkComposeIntake renders the two emails of one submission, as
// request.Intake does: the acknowledgement and the privacy contact's notice.
func BenchmarkComposeIntake(b *testing.B) {
	c, loc := newComposer(b)
	received := time.Date(2026, 3, 2, 10, 0, 0, 123456789, loc)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		received = received.Add(time.Millisecond)
		ack := map[string]any{
			"Org": "Bench School", "Reference": "RD-7K3M-9QX2-P", "Type": "access",
			"DueAt": time.Date(2026, 4, 1, 23, 59, 59, 0, loc), "StatusURL": "https://desk.example.kz/s/__RDSECRET_status__",
			"Verify": true, "OnBehalf": i%2 == 0, "ConfirmURL": "https://desk.example.kz/confirm/__RDSECRET_confirm__",
			"ConfirmBy": received.Add(7 * 24 * time.Hour),
		}
		if _, _, _, err := c.Compose("acknowledgement", request.Kazakh, ack); err != nil {
			b.Fatal(err)
		}
		notice := map[string]any{
			"Org": "Bench School", "Reference": "RD-7K3M-9QX2-P", "Type": "access",
			"DueAt": time.Date(2026, 4, 1, 23, 59, 59, 0, loc), "StaffURL": "https://desk.example.kz/staff/requests/RD-7K3M-9QX2-P",
			"Verify": true, "OnBehalf": i%2 == 0,
		}
		if _, _, _, err := c.Compose("staff_new", request.Russian, notice); err != nil {
			b.Fatal(err)
		}
	}
}
