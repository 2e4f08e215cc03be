// Package app wires rightsdesk together: configuration → database → store →
// domain services → HTTP server and job workers. Nothing here decides
// anything; it only connects the parts.
package app

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/request"
	"rightsdesk/internal/store"
	rdweb "rightsdesk/internal/web"
	"rightsdesk/web"
)

// Options are the parts that tests replace; zero values mean production.
type Options struct {
	Clock        request.Clock
	Sender       jobs.Sender // nil: SMTP when configured, else the dev mailbox
	RetryMax     time.Duration
	PollInterval time.Duration
	// NoPeriodicJobs leaves the sweeps to the test that calls them, so
	// that a background run never races the test's own.
	NoPeriodicJobs bool
	TLSRoots       mail.SenderOption
}

// App is an assembled instance.
type App struct {
	Handler http.Handler
	Web     *rdweb.Server
	Store   *store.Store
	Intake  *request.Intake
	Runner  *jobs.Runner
	Catalog *i18n.Catalog
	Expirer *request.Expirer
	Desk    *request.Desk
	Auth    *auth.Service
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Build assembles the application on an already migrated database.
func Build(cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger, opts Options) (*App, error) {
	clock := opts.Clock
	if clock == nil {
		clock = systemClock{}
	}
	locales, err := fs.Sub(web.Locales, "locales")
	if err != nil {
		return nil, fmt.Errorf("locales: %w", err)
	}
	catalog, err := i18n.Load(locales)
	if err != nil {
		return nil, err
	}
	composer, err := mail.NewComposer(web.Files, catalog, cfg.Location)
	if err != nil {
		return nil, err
	}
	policy, err := cfg.DeadlinePolicy(cfg.DeadlinePreset)
	if err != nil {
		return nil, fmt.Errorf("DEADLINE_PRESET: %w", err)
	}
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		return nil, err
	}
	st := store.New(pool, outbox)
	intake := &request.Intake{
		Validator: request.NewValidator(cfg.EnabledTypes),
		Repo:      st,
		Composer:  composer,
		Deadlines: policy,
		Clock:     clock,
		Links:     request.Links{BaseURL: cfg.BaseURL},
		Config: request.IntakeConfig{
			VerifyEmail:    cfg.VerifyEmail,
			ConfirmFor:     cfg.ConfirmLinkTTL,
			PrivacyContact: cfg.PrivacyContact,
			StaffLocale:    cfg.StaffLocale,
			OrgName:        cfg.OrgName,
		},
	}

	sender := opts.Sender
	mailboxDir := ""
	if sender == nil {
		if cfg.SMTPURL != "" {
			smtpCfg, err := mail.ParseSMTPURL(cfg.SMTPURL)
			if err != nil {
				return nil, &config.Error{Var: "SMTP_URL", Msg: err.Error()}
			}
			var senderOpts []mail.SenderOption
			if opts.TLSRoots != nil {
				senderOpts = append(senderOpts, opts.TLSRoots)
			}
			sender = mail.NewSMTPSender(smtpCfg, senderOpts...)
		} else {
			mailboxDir = filepath.Join(cfg.DataDir, "mailbox")
			sender = mail.DevMailbox{Dir: mailboxDir}
		}
	}
	now := clock.Now
	workers := river.NewWorkers()
	river.AddWorker(workers, &jobs.DeliverEmailWorker{Store: st, Sender: sender, From: cfg.MailFrom, Now: now})
	river.AddWorker(workers, &jobs.PruneRateLimitsWorker{Store: st, Now: now})
	desk := &request.Desk{
		Repo: st, Staff: st, Deadlines: policy, Composer: composer, Clock: clock, Links: intake.Links,
		Config: request.DeskConfig{OrgName: cfg.OrgName, DownloadFor: cfg.DownloadLinkTTL, ComplaintURL: cfg.ComplaintURL, ComplaintText: cfg.ComplaintText},
	}
	expirer := &request.Expirer{Repo: st, Composer: composer, Clock: clock, Links: intake.Links, OrgName: cfg.OrgName}
	river.AddWorker(workers, &jobs.ExpireUnconfirmedWorker{Sweeper: expirer})
	periodic := []*river.PeriodicJob{
		jobs.PruneRateLimitsEvery(15 * time.Minute),
		jobs.ExpireUnconfirmedEvery(15 * time.Minute),
	}
	if opts.NoPeriodicJobs {
		periodic = nil
	}
	runner, err := jobs.NewRunner(pool, workers, jobs.RunnerConfig{
		Logger:       logger,
		RetryMax:     opts.RetryMax,
		PollInterval: opts.PollInterval,
		PeriodicJobs: periodic,
	})
	if err != nil {
		return nil, err
	}

	staffAuth, err := auth.NewService(st, composer, clock, auth.Config{OrgName: cfg.OrgName, Links: intake.Links})
	if err != nil {
		return nil, fmt.Errorf("staff accounts: %w", err)
	}

	server, err := rdweb.New(rdweb.Deps{
		Config: rdweb.Config{
			OrgName:         cfg.OrgName,
			BaseURL:         cfg.BaseURL,
			Secure:          strings.HasPrefix(cfg.BaseURL, "https://"),
			EnabledTypes:    cfg.EnabledTypes,
			IntakeRateLimit: cfg.IntakeRateLimit,
			TrustedProxies:  cfg.TrustedProxies,
			Location:        cfg.Location,
			DevMailboxDir:   mailboxDir,
		},
		Intake: intake,
		Confirmer: &request.Confirmer{
			Repo: st, Deadlines: policy, Composer: composer, Clock: clock,
			Links: intake.Links, OrgName: cfg.OrgName,
		},
		Requester: &request.Requester{
			Repo: st, Composer: composer, Clock: clock, Links: intake.Links, Config: intake.Config,
		},
		Store:   st,
		Catalog: catalog,
		Clock:   clock,
		Logger:  logger,
		Files:   web.Files,
		Auth:    staffAuth,
		// No cleanup goroutine: sign-ins prune expired sessions (store.RecordSignIn).
		Sessions:  pgxstore.NewWithCleanupInterval(pool, 0),
		StaffHome: st,
	})
	if err != nil {
		return nil, err
	}
	return &App{Handler: server, Web: server, Store: st, Intake: intake, Runner: runner, Catalog: catalog, Expirer: expirer, Desk: desk, Auth: staffAuth}, nil
}
