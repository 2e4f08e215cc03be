package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"rightsdesk/internal/auth"
)

func TestPasswordsHashToPHCAndVerifyOnlyThemselves(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery staple", auth.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id PHC with OWASP parameters", h)
	}
	if h2, _ := auth.HashPassword("correct horse battery staple", auth.DefaultParams); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	ok, rehash, err := auth.VerifyPassword(h, "correct horse battery staple", auth.DefaultParams)
	if !ok || rehash || err != nil {
		t.Errorf("right password: ok %v, rehash %v, err %v", ok, rehash, err)
	}
	if ok, _, _ := auth.VerifyPassword(h, "correct horse battery stapl", auth.DefaultParams); ok {
		t.Error("a wrong password verified")
	}
}

func TestAHashWithOtherParametersAsksToBeRehashed(t *testing.T) {
	old := auth.Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h, err := auth.HashPassword("correct horse battery staple", old)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := auth.VerifyPassword(h, "correct horse battery staple", auth.DefaultParams)
	if !ok || !rehash || err != nil {
		t.Errorf("ok %v, rehash %v, err %v", ok, rehash, err)
	}
}

func TestMalformedOrAbusiveHashesAreRefused(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
	} {
		if ok, _, err := auth.VerifyPassword(h, "x", auth.DefaultParams); ok || !errors.Is(err, auth.ErrMalformedHash) {
			t.Errorf("%q: ok %v, err %v", h, ok, err)
		}
	}
}

func TestPasswordPolicyIsAboutLength(t *testing.T) {
	for pw, want := range map[string]error{
		"short":                        auth.ErrPasswordTooShort,
		"элевен букв":                  auth.ErrPasswordTooShort, // 11 characters, 21 bytes
		"двенадцать б":                 nil,
		"            ":                 auth.ErrPasswordBlank,
		strings.Repeat("a", 257):       auth.ErrPasswordTooLong,
		"correct horse battery staple": nil,
	} {
		if err := auth.CheckPassword(pw); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("%q: %v, want %v", pw, err, want)
		}
	}
}

func TestTheAuditorHoldsNoWritePermission(t *testing.T) {
	for _, p := range auth.Perms() {
		if p == auth.PermPlatform {
			if auth.Can(auth.Admin, p) {
				t.Error("a role holds the platform permission, the deployment's flag")
			}
			continue
		}
		if !auth.Can(auth.Admin, p) {
			t.Errorf("admin lacks %s", p)
		}
		if p.Writes() && auth.Can(auth.Auditor, p) {
			t.Errorf("auditor holds the write permission %s", p)
		}
	}
	if !auth.Can(auth.Agent, auth.PermRequestsWork) || auth.Can(auth.Agent, auth.PermStaffManage) || auth.Can(auth.Agent, auth.PermStaffRead) {
		t.Error("agents work requests and do not manage or list staff")
	}
	if !auth.Can(auth.Auditor, auth.PermRequestsRead) || !auth.Can(auth.Auditor, auth.PermStaffRead) {
		t.Error("auditors read everything")
	}
	if auth.Can("owner", auth.PermRequestsRead) {
		t.Error("an unknown role holds a permission")
	}
}

func TestTOTPCodesMatchTheirStepAndItsNeighbours(t *testing.T) {
	secret, uri, err := auth.NewTOTPKey("Онлайн-школа", "a@example.kz")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Errorf("uri %q", uri)
	}
	if got := auth.TOTPURI("Онлайн-школа", "a@example.kz", secret); got != uri {
		t.Errorf("TOTPURI = %q, want %q", got, uri)
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	code, err := auth.TOTPCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{-30 * time.Second, 0, 29 * time.Second} {
		if step, ok := auth.MatchTOTP(secret, code, at.Add(d)); !ok || step != auth.TOTPStep(at) {
			t.Errorf("at %v: step %d, ok %v", d, step, ok)
		}
	}
	if _, ok := auth.MatchTOTP(secret, code, at.Add(2*time.Minute)); ok {
		t.Error("a code two minutes old still matches")
	}
	if _, ok := auth.MatchTOTP(secret, "12345", at); ok {
		t.Error("a five-digit code matched")
	}
}
