package i18n

import "testing"

// The ending follows the last word said: бір, он, жүз, мың and the rest.
func TestKazakhEndingFollowsTheLastWordOfTheNumber(t *testing.T) {
	tests := []struct {
		n                  int64
		dat, abl, locative string
	}{
		{0, "ге", "ден", "де"},
		{1, "ге", "ден", "де"},             // бір
		{2, "ге", "ден", "де"},             // екі
		{3, "ке", "тен", "те"},             // үш
		{4, "ке", "тен", "те"},             // төрт
		{5, "ке", "тен", "те"},             // бес
		{6, "ға", "дан", "да"},             // алты
		{7, "ге", "ден", "де"},             // жеті
		{8, "ге", "ден", "де"},             // сегіз
		{9, "ға", "дан", "да"},             // тоғыз
		{10, "ға", "нан", "да"},            // он
		{20, "ға", "дан", "да"},            // жиырма
		{30, "ға", "дан", "да"},            // отыз
		{40, "қа", "тан", "та"},            // қырық
		{50, "ге", "ден", "де"},            // елу
		{60, "қа", "тан", "та"},            // алпыс
		{70, "ке", "тен", "те"},            // жетпіс
		{80, "ге", "нен", "де"},            // сексен
		{90, "ға", "нан", "да"},            // тоқсан
		{100, "ге", "ден", "де"},           // жүз
		{200, "ге", "ден", "де"},           // екі жүз
		{1000, "ға", "нан", "да"},          // мың
		{10000, "ға", "нан", "да"},         // он мың
		{15, "ке", "тен", "те"},            // он бес
		{1001, "ге", "ден", "де"},          // мың бір
		{110, "ға", "нан", "да"},           // жүз он
		{2_000_000, "ға", "нан", "да"},     // екі миллион
		{3_000_000_000, "қа", "тан", "та"}, // үш миллиард
	}
	for _, tt := range tests {
		if got := KazakhEnding(tt.n, Dative); got != tt.dat {
			t.Errorf("%d dative: -%s, want -%s", tt.n, got, tt.dat)
		}
		if got := KazakhEnding(tt.n, Ablative); got != tt.abl {
			t.Errorf("%d ablative: -%s, want -%s", tt.n, got, tt.abl)
		}
		if got := KazakhEnding(tt.n, Locative); got != tt.locative {
			t.Errorf("%d locative: -%s, want -%s", tt.n, got, tt.locative)
		}
	}
	if got := withEnding(100, Dative); got != "100-ге" {
		t.Errorf("withEnding(100) = %q", got)
	}
}
