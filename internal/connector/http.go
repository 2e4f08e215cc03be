package connector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"rightsdesk/internal/datamap"
	"rightsdesk/internal/identifier"
	"rightsdesk/internal/signing"
)

// The HTTP connector asks the operator's own code to do what only it can
// (unsubscribe from a mailing list, cancel a consent) for one identity.
//
// rightsdesk POSTs a signed JSON ActionRequest to the system's URL
// (internal/signing: X-Rightsdesk-Timestamp and X-Rightsdesk-Signature over
// "<timestamp>.<body>" with the system's secret; X-Rightsdesk-Event:
// datamap.action). The operator answers
//   - 200 or 204: done; a JSON body {"status":"done"|"failed","detail":…}
//     may say otherwise;
//   - 202: accepted, finished later: the body {"status":"pending",
//     "poll_url":…} (or a Location header) names where to ask, and/or the
//     operator POSTs the outcome, signed the same way with the same secret,
//     to the request's callback_url;
//   - 4xx: refused (408 and 429: try later); 5xx: try later.
// The request's id is the same on every retry of one step: the operator
// does the action once per id.

// EventAction is the X-Rightsdesk-Event of an action request.
const EventAction = "datamap.action"

// ActionRequest is the body rightsdesk POSTs.
type ActionRequest struct {
	// ID names the step; retries of one step send the same ID.
	ID string `json:"id"`
	// Action is what is asked: the map's action name (restriction,
	// consent_withdrawal or the operator's own word, e.g. unsubscribe).
	Action   string              `json:"action"`
	Identity identifier.Identity `json:"identity"`
	// Collections are the map's collections the action is for.
	Collections []string `json:"collections,omitempty"`
	// CallbackURL is where the operator may POST the outcome of a 202.
	CallbackURL string `json:"callback_url,omitempty"`
}

// ActionState is how far an action got.
type ActionState string

// The states.
const (
	ActionDone    ActionState = "done"
	ActionPending ActionState = "pending"
	ActionFailed  ActionState = "failed"
)

// ActionResult is the operator's answer.
type ActionResult struct {
	State ActionState `json:"status"`
	// PollURL is where to ask about a pending action; empty when the
	// operator will call back instead.
	PollURL string `json:"poll_url,omitempty"`
	// Detail is the operator's own words, for staff.
	Detail string `json:"detail,omitempty"`
}

// answer is the JSON an operator sends, as an answer, a poll or a callback.
type answer struct {
	ID      string `json:"id,omitempty"`
	Status  string `json:"status"`
	PollURL string `json:"poll_url,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// HTTPSystem is the client of one HTTP system of the map.
type HTTPSystem struct {
	Name   string
	URL    *url.URL
	Secret string
	// Client is nil for one with a ten-second timeout that follows no
	// redirects.
	Client *http.Client
	Now    func() time.Time
}

// HTTP returns the client of an HTTP system of the map, with its URL and
// secret read from the variables the map names.
func (s *Systems) HTTP(name string) (*HTTPSystem, error) {
	sys := s.m.System(name)
	if sys == nil || sys.Kind != datamap.HTTP {
		return nil, fmt.Errorf("connector: %q is no http system of the map", name)
	}
	raw, err := datamap.Secret(s.env, sys.URLEnv)
	if err != nil {
		return nil, &SystemError{System: name, Op: "call", Err: err}
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &SystemError{System: name, Op: "call", Err: fmt.Errorf("%s is not an absolute http(s) URL", sys.URLEnv)}
	}
	secret, err := datamap.Secret(s.env, sys.SecretEnv)
	if err != nil {
		return nil, &SystemError{System: name, Op: "call", Err: err}
	}
	return &HTTPSystem{Name: name, URL: u, Secret: secret, Now: time.Now}, nil
}

const httpTimeout = 10 * time.Second

var defaultHTTPClient = &http.Client{
	Timeout:       httpTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (h *HTTPSystem) client() *http.Client {
	if h.Client != nil {
		return h.Client
	}
	return defaultHTTPClient
}

func (h *HTTPSystem) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// Call asks the system to do an action and returns its answer. A failure
// the operator may recover from (no answer, 5xx, 408, 429) is a retryable
// *SystemError; a refusal (other 4xx) is a result with State failed.
func (h *HTTPSystem) Call(ctx context.Context, req ActionRequest) (ActionResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return ActionResult{}, err
	}
	return h.send(ctx, http.MethodPost, h.URL.String(), body)
}

// Poll asks a pending action's poll URL how it went. The URL must be on the
// system's own scheme and host: an answer cannot send rightsdesk elsewhere.
func (h *HTTPSystem) Poll(ctx context.Context, pollURL string) (ActionResult, error) {
	u, err := url.Parse(pollURL)
	if err != nil || u.Scheme != h.URL.Scheme || u.Host != h.URL.Host {
		return ActionResult{}, &SystemError{System: h.Name, Op: "call", Err: errors.New("the poll URL is not on the system's own host")}
	}
	return h.send(ctx, http.MethodGet, u.String(), nil)
}

func (h *HTTPSystem) send(ctx context.Context, method, target string, body []byte) (ActionResult, error) {
	ctx, cancel := context.WithTimeout(ctx, httpTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return ActionResult{}, &SystemError{System: h.Name, Op: "call", Err: errors.New("the URL is not usable")}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "rightsdesk-datamap/1")
	req.Header.Set("X-Rightsdesk-Event", EventAction)
	signing.Sign(req.Header, h.Secret, body, h.now())
	resp, err := h.client().Do(req)
	if err != nil {
		// The cause without the URL, which the operator knows.
		cause := err
		if inner := errors.Unwrap(err); inner != nil {
			cause = inner
		}
		return ActionResult{}, &SystemError{System: h.Name, Op: "call", Err: fmt.Errorf("no answer: %v", cause), retryable: true}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var a answer
	_ = json.Unmarshal(raw, &a) // a body that is no JSON says nothing beyond its status
	switch {
	case resp.StatusCode == http.StatusAccepted:
		poll := a.PollURL
		if poll == "" {
			poll = resp.Header.Get("Location")
		}
		if poll != "" {
			if u, err := h.URL.Parse(poll); err == nil {
				poll = u.String()
			}
		}
		return ActionResult{State: ActionPending, PollURL: poll, Detail: a.Detail}, nil
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res, err := parseAnswer(a, ActionDone)
		if err != nil {
			return ActionResult{}, &SystemError{System: h.Name, Op: "call", Err: err}
		}
		return res, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return ActionResult{}, &SystemError{System: h.Name, Op: "call", Err: fmt.Errorf("answered %s", resp.Status), retryable: true}
	default:
		detail := a.Detail
		if detail == "" {
			detail = "answered " + resp.Status
		}
		return ActionResult{State: ActionFailed, Detail: detail}, nil
	}
}

func parseAnswer(a answer, empty ActionState) (ActionResult, error) {
	switch ActionState(strings.ToLower(a.Status)) {
	case "":
		return ActionResult{State: empty, Detail: a.Detail}, nil
	case ActionDone:
		return ActionResult{State: ActionDone, Detail: a.Detail}, nil
	case ActionFailed:
		return ActionResult{State: ActionFailed, Detail: a.Detail}, nil
	case ActionPending:
		return ActionResult{State: ActionPending, PollURL: a.PollURL, Detail: a.Detail}, nil
	}
	return ActionResult{}, fmt.Errorf("unknown status %q (want done, pending or failed)", a.Status)
}

// Callback is an outcome the operator POSTed to a callback URL.
type Callback struct {
	ID     string
	Result ActionResult
}

// VerifyCallback checks a callback's signature with the system's secret,
// and its age, and reads it: the route that receives callbacks calls it and
// trusts nothing in the body before it returns.
func (h *HTTPSystem) VerifyCallback(header http.Header, body []byte) (Callback, error) {
	if err := signing.Verify(header, h.Secret, body, h.now()); err != nil {
		return Callback{}, err
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return Callback{}, fmt.Errorf("callback: the body is not JSON: %w", err)
	}
	if a.ID == "" {
		return Callback{}, errors.New("callback: the body names no id")
	}
	res, err := parseAnswer(a, "")
	if err != nil || res.State == "" || res.State == ActionPending && a.Status == "" {
		return Callback{}, errors.New("callback: status must be done, failed or pending")
	}
	return Callback{ID: a.ID, Result: res}, nil
}
