package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"rightsdesk/internal/deadline"
)

// runDeadline prints the due date the configured (or a named) policy gives,
// so an operator can check a rule before relying on it.
func runDeadline(_ context.Context, c *cli, args []string) error {
	fs := flag.NewFlagSet("deadline", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {}
	typ := fs.String("type", "", "request type (access, rectification, erasure, restriction, objection, consent_withdrawal, portability)")
	received := fs.String("received", "", "when the request was received, RFC 3339 (e.g. 2026-03-20T15:04:05+05:00)")
	confirmed := fs.String("confirmed", "", "when the requester confirmed, RFC 3339 (for rules that start then)")
	preset := fs.String("preset", "", "preset to use instead of DEADLINE_PRESET (default, kz, gdpr, ccpa, lgpd, ru152)")
	slug := fs.String("operator", "", operatorFlagHelp)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *typ == "" || *received == "" {
		return errUsage
	}
	cfg, err := operatorConfig(c, *slug)
	if err != nil {
		return err
	}
	if *preset == "" {
		*preset = cfg.DeadlinePreset
	}
	policy, err := cfg.DeadlinePolicy(*preset)
	if err != nil {
		return err
	}
	in := deadline.Input{Type: *typ}
	if in.ReceivedAt, err = time.Parse(time.RFC3339, *received); err != nil {
		return fmt.Errorf("--received: want RFC 3339 such as 2026-03-20T15:04:05+05:00")
	}
	if *confirmed != "" {
		if in.ConfirmedAt, err = time.Parse(time.RFC3339, *confirmed); err != nil {
			return fmt.Errorf("--confirmed: want RFC 3339 such as 2026-03-21T09:00:00+05:00")
		}
	}
	res, err := policy.Due(in)
	if errors.Is(err, deadline.ErrNotStarted) {
		return fmt.Errorf("this rule's clock starts at confirmation: give --confirmed")
	}
	if err != nil {
		return err
	}
	out := json.NewEncoder(c.stdout)
	out.SetIndent("", "  ")
	return out.Encode(struct {
		DueAt    string `json:"due_at"`
		Rule     string `json:"rule"`
		LegalRef string `json:"legal_ref"`
	}{res.DueAt.In(policy.Location()).Format(time.RFC3339), res.Rule, res.LegalRef})
}
