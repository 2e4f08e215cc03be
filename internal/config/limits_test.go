package config

import "testing"

func TestAcknowledgementsPerDay(t *testing.T) {
	for value, want := range map[string]int{"": 5, "1": 1, "0": 0, "1000": 1000} {
		if c, ok := loadCase(t, map[string]string{"ACKNOWLEDGEMENTS_PER_DAY": value}, ""); ok && c.AcknowledgementsPerDay != want {
			t.Errorf("ACKNOWLEDGEMENTS_PER_DAY=%q: %d, want %d", value, c.AcknowledgementsPerDay, want)
		}
	}
	for _, bad := range []string{"-1", "1001", "lots", "2.5"} {
		loadCase(t, map[string]string{"ACKNOWLEDGEMENTS_PER_DAY": bad}, "ACKNOWLEDGEMENTS_PER_DAY")
	}
}
