package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
)

func envOf(m map[string]string) Env {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// loadCase loads env and checks it fails naming badVar, when that is set;
// ok says the configuration loaded and its values are to be checked.
func loadCase(t *testing.T, env map[string]string, badVar string) (Config, bool) {
	t.Helper()
	got, err := Load(envOf(env))
	if badVar != "" {
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != badVar {
			t.Errorf("Load(%v) = %v, want an error naming %s", env, err, badVar)
		}
		return got, false
	}
	if err != nil {
		t.Errorf("Load(%v): %v", env, err)
		return got, false
	}
	return got, true
}

func TestDefaults(t *testing.T) {
	c, err := Load(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != ":8080" || c.BaseURL != "http://localhost:8080" {
		t.Errorf("listen %q base %q", c.ListenAddr, c.BaseURL)
	}
	if c.Location.String() != "Asia/Almaty" || !c.VerifyEmail || c.IntakeRateLimit != 10 || c.EmailWorkers != 20 {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if len(c.EnabledTypes) != 7 || c.ConfirmLinkTTL != 7*24*time.Hour {
		t.Errorf("types %v ttl %v", c.EnabledTypes, c.ConfirmLinkTTL)
	}
	if c.MailFrom != "rightsdesk <no-reply@localhost>" {
		t.Errorf("MailFrom = %q", c.MailFrom)
	}
}

func TestWrongValueNamesTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"LISTEN_ADDR":           {"LISTEN_ADDR": "8080"},
		"BASE_URL":              {"BASE_URL": "ftp://x"},
		"SMTP_URL":              {"SMTP_URL": "http://mail:25"},
		"SMTP_URL ":             {"SMTP_URL": "smtp://mail:25?tls=maybe"},
		"MAIL_FROM":             {"MAIL_FROM": "not an address"},
		"PRIVACY_CONTACT_EMAIL": {"PRIVACY_CONTACT_EMAIL": "Privacy <p@example.kz>"},
		"TIMEZONE":              {"TIMEZONE": "Mars/Olympus"},
		"ENABLED_TYPES":         {"ENABLED_TYPES": "access,teleport"},
		"VERIFY_EMAIL":          {"VERIFY_EMAIL": "maybe"},
		"INTAKE_RATE_LIMIT":     {"INTAKE_RATE_LIMIT": "-1"},
		"EMAIL_WORKERS":         {"EMAIL_WORKERS": "0"},
		"EMAIL_WORKERS ":        {"EMAIL_WORKERS": "many"},
		"TRUSTED_PROXIES":       {"TRUSTED_PROXIES": "10.0.0.0/33"},
		"CONFIRM_LINK_TTL":      {"CONFIRM_LINK_TTL": "0d"},
		"STAFF_LOCALE":          {"STAFF_LOCALE": "de"},
		"DEADLINE_PRESET":       {"DEADLINE_PRESET": "mars"},
		"DATABASE_URL":          {"DATABASE_URL": "postgres://x", "DATABASE_URL_FILE": "/x"},
		"SMTP_URL_FILE":         {"SMTP_URL_FILE": "/does/not/exist"},
	}
	for want, env := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := Load(envOf(env))
			var cerr *Error
			if !errors.As(err, &cerr) || cerr.Var != strings.TrimSpace(want) {
				t.Fatalf("Load(%v) = %v, want an error naming %s", env, err, want)
			}
		})
	}
}

func TestSMTPPasswordNeverEchoed(t *testing.T) {
	_, err := Load(envOf(map[string]string{"SMTP_URL": "http://user:s3cret@mail:25"}))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error %v must exist and must not show the password", err)
	}
}

func TestSecretFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(path, []byte("postgres://app@db/rightsdesk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := keyring.Generate()
	keyPath := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyPath, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"DATABASE_URL_FILE": path, "ENCRYPTION_KEY_FILE": keyPath}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://app@db/rightsdesk" {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
	if want, _ := keyring.Parse(key); c.Keys == nil || c.Keys.CurrentID() != want.CurrentID() {
		t.Error("ENCRYPTION_KEY_FILE was not read")
	}
}

// TestEncryptionKey: required with DATABASE_URL (the private PostgreSQL
// keeps a development key of its own); a bad key is named without being
// repeated; old keys may follow the current one.
func TestEncryptionKey(t *testing.T) {
	if _, err := Load(envOf(map[string]string{"DATABASE_URL": "postgres://db/x"})); err == nil || !strings.HasPrefix(err.Error(), "ENCRYPTION_KEY") {
		t.Errorf("no key with DATABASE_URL: %v", err)
	}
	if c, err := Load(envOf(nil)); err != nil || c.Keys != nil {
		t.Errorf("the private PostgreSQL without a key: %v, %v", c.Keys, err)
	}
	bad := "c2hvcnQta2V5LXRoYXQtbGVha3M="
	if _, err := Load(envOf(map[string]string{"ENCRYPTION_KEY": bad})); err == nil ||
		!strings.HasPrefix(err.Error(), "ENCRYPTION_KEY") || strings.Contains(err.Error(), bad) {
		t.Errorf("a short key: %v", err)
	}
	c, err := Load(envOf(map[string]string{"ENCRYPTION_KEY": keyring.Generate() + "," + keyring.Generate()}))
	if err != nil || len(c.Keys.IDs()) != 2 {
		t.Errorf("two keys: %v", err)
	}
}

func TestValuesParsed(t *testing.T) {
	c, err := Load(envOf(map[string]string{
		"BASE_URL": "https://privacy.example.kz/", "ENABLED_TYPES": "erasure, access",
		"VERIFY_EMAIL": "false", "INTAKE_RATE_LIMIT": "0", "TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
		"CONFIRM_LINK_TTL": "48h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseURL != "https://privacy.example.kz" || c.MailFrom != "rightsdesk <no-reply@privacy.example.kz>" {
		t.Errorf("base %q from %q", c.BaseURL, c.MailFrom)
	}
	if len(c.EnabledTypes) != 2 || c.EnabledTypes[0] != "erasure" || c.VerifyEmail || c.IntakeRateLimit != 0 {
		t.Errorf("got %+v", c)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "127.0.0.1/32" || c.ConfirmLinkTTL != 48*time.Hour {
		t.Errorf("proxies %v ttl %v", c.TrustedProxies, c.ConfirmLinkTTL)
	}
}

func TestPolicyFileAndPromise(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("types:\n  access:\n    value: 10\n    unit: working_days\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(envOf(map[string]string{"POLICY_FILE": path, "PROMISED_DAYS": "30", "PROMISED_UNIT": "working_days"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Policy == nil || c.Promise == nil || c.Promise.Value != 30 {
		t.Fatalf("policy %v promise %v", c.Policy, c.Promise)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("typos:\n  access: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for want, env := range map[string]map[string]string{
		"POLICY_FILE":   {"POLICY_FILE": bad},
		"PROMISED_DAYS": {"PROMISED_DAYS": "soon"},
		"PROMISED_UNIT": {"PROMISED_DAYS": "30", "PROMISED_UNIT": "fortnights"},
	} {
		_, err := Load(envOf(env))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != want {
			t.Errorf("%v: %v, want an error naming %s", env, err, want)
		}
	}
}

func TestReminderSettings(t *testing.T) {
	cases := []struct {
		env        map[string]string
		thresholds []int
		interval   time.Duration
		badVar     string
	}{
		{nil, []int{7, 3, 1}, time.Hour, ""},
		{map[string]string{"REMINDER_THRESHOLDS": "1, 14,3"}, []int{14, 3, 1}, time.Hour, ""},
		{map[string]string{"REMINDER_THRESHOLDS": "5d"}, []int{5}, time.Hour, ""},
		{map[string]string{"REMINDER_INTERVAL": "15m"}, []int{7, 3, 1}, 15 * time.Minute, ""},
		{map[string]string{"REMINDER_INTERVAL": "24h"}, []int{7, 3, 1}, 24 * time.Hour, ""},
		{map[string]string{"REMINDER_THRESHOLDS": "0"}, nil, 0, "REMINDER_THRESHOLDS"},
		{map[string]string{"REMINDER_THRESHOLDS": "7,3,3"}, nil, 0, "REMINDER_THRESHOLDS"},
		{map[string]string{"REMINDER_THRESHOLDS": "a week"}, nil, 0, "REMINDER_THRESHOLDS"},
		{map[string]string{"REMINDER_THRESHOLDS": ","}, nil, 0, "REMINDER_THRESHOLDS"},
		{map[string]string{"REMINDER_THRESHOLDS": "400"}, nil, 0, "REMINDER_THRESHOLDS"},
		{map[string]string{"REMINDER_INTERVAL": "1d"}, nil, 0, "REMINDER_INTERVAL"},
		{map[string]string{"REMINDER_INTERVAL": "25h"}, nil, 0, "REMINDER_INTERVAL"},
		{map[string]string{"REMINDER_INTERVAL": "500ms"}, nil, 0, "REMINDER_INTERVAL"},
		{map[string]string{"REMINDER_INTERVAL": "-1h"}, nil, 0, "REMINDER_INTERVAL"},
	}
	for _, c := range cases {
		got, ok := loadCase(t, c.env, c.badVar)
		if !ok {
			continue
		}
		if !slices.Equal(got.ReminderThresholds, c.thresholds) || got.ReminderInterval != c.interval {
			t.Errorf("Load(%v): thresholds %v interval %v, want %v %v", c.env, got.ReminderThresholds, got.ReminderInterval, c.thresholds, c.interval)
		}
	}
}

func TestRetentionSettings(t *testing.T) {
	cases := []struct {
		env             map[string]string
		personal, files Age
		badVar          string
	}{
		{nil, Age{Years: 3}, Age{Days: 120}, ""},
		{map[string]string{"RETENTION_PERIOD": "5y"}, Age{Years: 5}, Age{Days: 120}, ""},
		{map[string]string{"RETENTION_PERIOD": "1095d", "FILE_RETENTION": "30d"}, Age{Days: 1095}, Age{Days: 30}, ""},
		{map[string]string{"RETENTION_PERIOD": " 1y ", "FILE_RETENTION": "1y"}, Age{Years: 1}, Age{Years: 1}, ""},
		{map[string]string{"FILE_RETENTION": "1d"}, Age{Years: 3}, Age{Days: 1}, ""},
		{map[string]string{"RETENTION_PERIOD": "3"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"RETENTION_PERIOD": "0y"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"RETENTION_PERIOD": "-1y"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"RETENTION_PERIOD": "36m"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"RETENTION_PERIOD": "1.5y"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"RETENTION_PERIOD": "101y"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"RETENTION_PERIOD": "26280h"}, Age{}, Age{}, "RETENTION_PERIOD"},
		{map[string]string{"FILE_RETENTION": "0d"}, Age{}, Age{}, "FILE_RETENTION"},
		{map[string]string{"FILE_RETENTION": "120"}, Age{}, Age{}, "FILE_RETENTION"},
		{map[string]string{"FILE_RETENTION": "36501d"}, Age{}, Age{}, "FILE_RETENTION"},
		// Files cannot outlive the personal data they are part of.
		{map[string]string{"RETENTION_PERIOD": "100d", "FILE_RETENTION": "120d"}, Age{}, Age{}, "FILE_RETENTION"},
		{map[string]string{"RETENTION_PERIOD": "1y", "FILE_RETENTION": "366d"}, Age{}, Age{}, "FILE_RETENTION"},
		{map[string]string{"FILE_RETENTION": "4y"}, Age{}, Age{}, "FILE_RETENTION"},
	}
	for _, c := range cases {
		got, ok := loadCase(t, c.env, c.badVar)
		if !ok {
			continue
		}
		if got.RetentionPeriod != c.personal || got.FileRetention != c.files {
			t.Errorf("Load(%v): %v / %v, want %v / %v", c.env, got.RetentionPeriod, got.FileRetention, c.personal, c.files)
		}
	}
}

func TestRetentionCutOffCountsCalendarYearsAndDays(t *testing.T) {
	now := time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC)
	if got := (Age{Years: 3}).Before(now); !got.Equal(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("3y before a leap day: %v", got) // 2025-02-29 does not exist: Go normalises to 1 March
	}
	if got := (Age{Days: 120}).Before(now); !got.Equal(now.AddDate(0, 0, -120)) {
		t.Errorf("120d: %v", got)
	}
}

func TestMetricsAddr(t *testing.T) {
	c, err := Load(envOf(nil))
	if err != nil || c.MetricsAddr != "" {
		t.Fatalf("by default there is no metrics listener: %q, %v", c.MetricsAddr, err)
	}
	for _, ok := range []string{"127.0.0.1:9090", ":9090", "[::1]:9090", "localhost:9090", "0.0.0.0:9100"} {
		c, err := Load(envOf(map[string]string{"METRICS_ADDR": ok}))
		if err != nil || c.MetricsAddr != ok {
			t.Errorf("METRICS_ADDR=%s: %q, %v", ok, c.MetricsAddr, err)
		}
	}
	for _, bad := range []string{"9090", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", "127.0.0.1:70000",
		"metrics.example.kz:9090", ":8080", "127.0.0.1:8080"} {
		_, err := Load(envOf(map[string]string{"METRICS_ADDR": bad}))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != "METRICS_ADDR" {
			t.Errorf("METRICS_ADDR=%s: %v, want an error naming METRICS_ADDR", bad, err)
		}
	}
	// Beside a LISTEN_ADDR of its own, the port is free again.
	if _, err := Load(envOf(map[string]string{"LISTEN_ADDR": ":8000", "METRICS_ADDR": "127.0.0.1:8080"})); err != nil {
		t.Errorf("METRICS_ADDR on a port LISTEN_ADDR does not use: %v", err)
	}
}

func TestWebhooksReachPrivateAddressesOnlyWhenAllowed(t *testing.T) {
	if c, ok := loadCase(t, nil, ""); ok && c.WebhookAllowPrivate {
		t.Error("private webhook targets must be refused by default")
	}
	if c, ok := loadCase(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}, ""); ok && !c.WebhookAllowPrivate {
		t.Error("WEBHOOK_ALLOW_PRIVATE=true was not read")
	}
	loadCase(t, map[string]string{"WEBHOOK_ALLOW_PRIVATE": "internal"}, "WEBHOOK_ALLOW_PRIVATE")
}

func TestIdentityCheckSetting(t *testing.T) {
	needs := func(c Config, typ request.Type, scope string) bool {
		return c.IdentityCheck.Needed(request.Request{Type: typ, AccessScope: scope})
	}
	c, ok := loadCase(t, nil, "")
	if !ok {
		t.Fatal("defaults do not load")
	}
	// By default an answer that hands the data out, or destroys it, needs
	// the staff check; the others need the email proof only.
	for _, want := range []struct {
		typ   request.Type
		scope string
		need  bool
	}{
		{request.Access, "copy", true}, {request.Access, "information", false}, {request.Portability, "", true},
		{request.Erasure, "", true}, {request.Rectification, "", false}, {request.Restriction, "", false},
		{request.Objection, "", false}, {request.ConsentWithdrawal, "", false},
	} {
		if got := needs(c, want.typ, want.scope); got != want.need {
			t.Errorf("default: %s %s needs a check: %v, want %v", want.typ, want.scope, got, want.need)
		}
	}
	if c, ok := loadCase(t, map[string]string{"IDENTITY_CHECK": "none"}, ""); ok {
		for _, typ := range request.AllTypes() {
			if needs(c, typ, "copy") {
				t.Errorf("none: %s needs a check", typ)
			}
		}
	}
	if c, ok := loadCase(t, map[string]string{"IDENTITY_CHECK": " rectification , access "}, ""); ok {
		if !needs(c, request.Access, "information") || !needs(c, request.Access, "copy") || !needs(c, request.Rectification, "") || needs(c, request.Erasure, "") {
			t.Error("access and rectification: not read as written")
		}
	}
	if c, ok := loadCase(t, map[string]string{"IDENTITY_CHECK": "access:information"}, ""); ok {
		if !needs(c, request.Access, "information") || needs(c, request.Access, "copy") {
			t.Error("access:information: not read as written")
		}
	}
	// Each mistake gets its own line naming the variable.
	for value, lines := range map[string][]string{
		"acess,erasure,teleport": {`IDENTITY_CHECK: unknown request type "acess"`, `IDENTITY_CHECK: unknown request type "teleport"`},
		"none,erasure":           {`IDENTITY_CHECK: "none" cannot be combined with request types`},
		"erasure,,access:copy":   {`IDENTITY_CHECK: an empty entry`},
		"access:everything":      {`IDENTITY_CHECK: unknown request type "access:everything"`},
	} {
		_, err := Load(envOf(map[string]string{"IDENTITY_CHECK": value}))
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != "IDENTITY_CHECK" {
			t.Errorf("%q: %v, want an error naming IDENTITY_CHECK", value, err)
			continue
		}
		got := strings.Split(err.Error(), "\n")
		if len(got) != len(lines) {
			t.Errorf("%q: %d lines, want %d:\n%v", value, len(got), len(lines), err)
			continue
		}
		for i, want := range lines {
			if !strings.HasPrefix(got[i], want) {
				t.Errorf("%q: line %q, want it to start %q", value, got[i], want)
			}
		}
	}
}

func TestDataMapFileIsOffWhenEmptyAndRefusedWithItsMistakes(t *testing.T) {
	c, err := Load(envOf(map[string]string{}))
	if err != nil || c.DataMap != nil {
		t.Fatalf("no DATA_MAP_FILE: map %v, err %v; want the feature off", c.DataMap, err)
	}
	c, err = Load(envOf(map[string]string{"DATA_MAP_FILE": "../../deploy/datamaps/lms-example.yaml"}))
	if err != nil || c.DataMap == nil || c.DataMap.System("lms") == nil {
		t.Fatalf("the example map: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "map.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\ncolour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(envOf(map[string]string{"DATA_MAP_FILE": bad}))
	if err == nil || !strings.HasPrefix(err.Error(), "DATA_MAP_FILE: ") || !strings.Contains(err.Error(), bad+`:2: unknown key "colour"`) {
		t.Fatalf("err = %v, want DATA_MAP_FILE and the mistake's line", err)
	}
	_, err = Load(envOf(map[string]string{"DATA_MAP_FILE": "/nonexistent/map.yaml"}))
	if err == nil || err.Error() != "DATA_MAP_FILE: cannot read /nonexistent/map.yaml: no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

func TestAutoGatherNamesOnlyGatheredTypesAndNeedsAMap(t *testing.T) {
	withMap := func(v string) map[string]string {
		return map[string]string{"DATA_MAP_FILE": "../../deploy/datamaps/lms-example.yaml", "AUTO_GATHER": v}
	}
	c, err := Load(envOf(withMap(" access , portability ")))
	if err != nil || !slices.Equal(c.AutoGather, []request.Type{request.Access, request.Portability}) {
		t.Fatalf("AUTO_GATHER=access,portability: %v, %v", c.AutoGather, err)
	}
	for _, v := range []string{"", "off"} {
		if c, err := Load(envOf(withMap(v))); err != nil || c.AutoGather != nil {
			t.Errorf("AUTO_GATHER=%q: %v, %v; want off", v, c.AutoGather, err)
		}
	}
	for v, want := range map[string]string{
		"erasure":       `AUTO_GATHER: "erasure" cannot be gathered by itself`,
		"access,access": `AUTO_GATHER: "access" is named twice`,
	} {
		if _, err := Load(envOf(withMap(v))); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("AUTO_GATHER=%q: %v, want %q", v, err, want)
		}
	}
	if _, err := Load(envOf(map[string]string{"AUTO_GATHER": "access"})); err == nil || !strings.Contains(err.Error(), "needs DATA_MAP_FILE") {
		t.Errorf("AUTO_GATHER without a map: %v", err)
	}
}
