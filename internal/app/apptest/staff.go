package apptest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"rightsdesk/internal/auth"
)

// StaffPassword is the password AddStaff gives every account.
const StaffPassword = "correct horse battery staple"

// AddStaff creates an active staff account with StaffPassword.
func (in *Instance) AddStaff(tb testing.TB, email, name string, role auth.Role) auth.Staff {
	tb.Helper()
	st, err := in.App.Auth.CreateWithPassword(context.Background(), auth.AccountInput{
		Email: email, Name: name, Role: string(role), Locale: "ru", Password: StaffPassword,
	})
	if err != nil {
		tb.Fatalf("add staff %s: %v", email, err)
	}
	return st
}

// Client is an HTTP client with its own cookies that does not follow
// redirects, so a test sees every answer as it is.
func Client(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// CSRFToken finds the form token on a page ("" when there is none).
func CSRFToken(page string) string {
	if m := csrfField.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// Get fetches a page with c and returns the answer and its body.
func (in *Instance) Get(tb testing.TB, c *http.Client, path string) (*http.Response, string) {
	tb.Helper()
	resp, err := c.Get(in.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Post sends a form with c and returns the answer and its body.
func (in *Instance) Post(tb testing.TB, c *http.Client, path string, form url.Values) (*http.Response, string) {
	tb.Helper()
	resp, err := c.PostForm(in.URL+path, form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// StaffToken returns a CSRF token valid for c on staff forms: the
// double-submit cookie's value, set by any staff page.
func (in *Instance) StaffToken(tb testing.TB, c *http.Client) string {
	tb.Helper()
	in.Get(tb, c, "/staff/login")
	u, err := url.Parse(in.URL)
	if err != nil {
		tb.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "_csrf" {
			return ck.Value
		}
	}
	tb.Fatal("no CSRF cookie after opening the sign-in page")
	return ""
}

// SignIn signs email in with StaffPassword on a new client and returns it
// (accounts with a second factor need the code step; see the staff tests).
func (in *Instance) SignIn(tb testing.TB, email string) *http.Client {
	tb.Helper()
	c := Client(tb)
	resp, _ := in.Post(tb, c, "/staff/login", url.Values{
		"_csrf": {in.StaffToken(tb, c)}, "email": {email}, "password": {StaffPassword},
	})
	if resp.StatusCode != http.StatusSeeOther || strings.HasPrefix(resp.Header.Get("Location"), "/staff/login") {
		tb.Fatalf("sign in %s: %d to %q", email, resp.StatusCode, resp.Header.Get("Location"))
	}
	return c
}
