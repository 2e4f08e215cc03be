package request

import "testing"

func TestMaskLinksHidesThisPortalsSecretLinksOnly(t *testing.T) {
	l := Links{BaseURL: "https://privacy.school.kz"}
	tok := "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"
	for _, tc := range []struct{ in, want string }{
		{"> Бетіңіз: https://privacy.school.kz/s/" + tok + "\n", "> Бетіңіз: https://privacy.school.kz/s/••••••\n"},
		{"confirm https://privacy.school.kz/confirm/" + tok + ". thanks", "confirm https://privacy.school.kz/confirm/••••••. thanks"},
		{"(https://privacy.school.kz/d/" + tok + ")", "(https://privacy.school.kz/d/••••••)"},
		{"two https://privacy.school.kz/s/a1 https://privacy.school.kz/s/b2", "two https://privacy.school.kz/s/•••••• https://privacy.school.kz/s/••••••"},
		{"another site https://evil.example/s/" + tok, "another site https://evil.example/s/" + tok},
		{"the portal https://privacy.school.kz/request", "the portal https://privacy.school.kz/request"},
	} {
		if got := l.MaskLinks(tc.in); got != tc.want {
			t.Errorf("MaskLinks(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCutTextKeepsAtMostMaxCharactersAndMarksTheCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"Сәлем", 5, "Сәлем"},
		{"Сәлеметсіз бе", 6, "Сәлем…"},
		{"ab  cdef", 4, "ab…"},
	} {
		if got := cutText(tc.in, tc.max); got != tc.want {
			t.Errorf("cutText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
