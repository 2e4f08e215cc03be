// Package app wires rightsdesk together: configuration → database → store →
// domain services → HTTP server and job workers. Nothing here decides
// anything; it only connects the parts.
package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"rightsdesk/internal/accesspack"
	"rightsdesk/internal/auth"
	"rightsdesk/internal/config"
	"rightsdesk/internal/connector"
	"rightsdesk/internal/datamap"
	"rightsdesk/internal/egress"
	"rightsdesk/internal/fulfil"
	"rightsdesk/internal/i18n"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/mail"
	"rightsdesk/internal/metrics"
	"rightsdesk/internal/reminder"
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
	// PollFirst and PollMax bound the waits between polls of an operator's
	// system that answers later (the data map's HTTP connector).
	PollFirst, PollMax time.Duration

	// metrics is the deployment's one registry when it serves several
	// operators (BuildOperators): every operator's App feeds it, and it
	// counts each one's requests apart. nil: the App makes its own.
	metrics *metrics.Metrics
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
	APIKeys *auth.APIKeys
	// Reminders is the deadline reminder sweep (the periodic job and
	// `rightsdesk reminders run`).
	Reminders *jobs.ReminderSweep
	// Retention deletes old files and purges old personal data (the daily
	// periodic job; tests call Run with their clock).
	Retention *jobs.RetentionSweep
	// Reissuer replaces status links handed out before a moment
	// (`rightsdesk links reissue`).
	Reissuer *request.Reissuer
	// Metrics is the Prometheus registry and its collectors; Serve puts
	// Metrics.OpsHandler on METRICS_ADDR.
	Metrics *metrics.Metrics
	// Fulfil answers requests from the data map; nil without DATA_MAP_FILE.
	Fulfil *fulfil.Service
	// Mailroom decides what letters become; Inbound is the ways letters
	// come in (started by Serve when configured).
	Mailroom *request.Mailroom
	Inbound  *Inbound
	// operators are every operator's App when this one stands for a
	// deployment of several (serve closes each one's connections).
	operators []*App
	// sender delivers the emails; an SMTP sender keeps connections open,
	// which the shutdown closes with a QUIT once the workers have stopped.
	sender any
}

// deliveryRetrier has a failed email's delivery job run again now, inside
// the store's transaction that logs the retry. The job is found by its
// arguments rather than by an id kept on the email, so emails queued before
// this existed are covered too; when River has already cleaned the job away
// (cancelled and finished jobs are kept a day), a new one is enqueued. The
// worker skips an email already sent, and a job still running is left alone
// (store.ErrDeliveryRunning), so the email still arrives once.
type deliveryRetrier struct{ client *river.Client[pgx.Tx] }

func (d deliveryRetrier) RetryDelivery(ctx context.Context, tx pgx.Tx, emailID int64) error {
	// The job that carries the email: one of a change's emails, or the
	// email alone in a job queued by an earlier version.
	kind := jobs.DeliverEmailArgs{}.Kind()
	found, err := d.client.JobListTx(ctx, tx, river.NewJobListParams().
		Kinds(kind).
		Where("(args @> jsonb_build_object('email_ids', jsonb_build_array(@id::bigint)) OR args @> jsonb_build_object('email_id', @id::bigint))",
			river.NamedArgs{"id": emailID}).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).
		First(1))
	if err != nil {
		return fmt.Errorf("find delivery job: %w", err)
	}
	if len(found.Jobs) == 0 {
		_, err = d.client.InsertTx(ctx, tx, jobs.DeliverEmailArgs{EmailIDs: []int64{emailID}}, nil)
		return err
	}
	job, err := d.client.JobRetryTx(ctx, tx, found.Jobs[0].ID)
	if err != nil {
		return err
	}
	if job.State == rivertype.JobStateRunning {
		// An attempt is under way, or River is still recording the one that
		// just failed: a second job now could send the email twice.
		return store.ErrDeliveryRunning
	}
	return nil
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Build assembles the application on an already migrated database.
func Build(cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger, opts Options) (*App, error) {
	return buildOperator(cfg, pool, logger, opts, 0)
}

// assembled is one operator's application before the job runner exists:
// its workers are registered, and finish builds the rest (the staff
// sign-in and the HTTP server need the runner's client).
type assembled struct {
	runner func(*river.Workers) (*jobs.Runner, error)
	// finish's operators are the deployment's, for the switcher and the
	// platform page; nil for a deployment of one operator.
	finish func(runner *jobs.Runner, operators rdweb.Operators) (*App, error)
}

// assemble builds one operator's services and registers its job workers in
// workers under operatorID; 0 is the deployment of one operator, whose
// store is scoped by its callers (and, with no scope, is that operator's).
func assemble(cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger, opts Options, operatorID int64, workers *jobs.Workers) (*assembled, error) {
	clock := opts.Clock
	if clock == nil {
		clock = systemClock{}
	}
	catalog, err := web.Catalog()
	if err != nil {
		return nil, err
	}
	// Pages and emails word the request types and rights as the preset's law does.
	catalog = catalog.ForRuleSet(cfg.DeadlinePreset)
	composer, err := mail.NewComposer(web.Files, catalog, cfg.Location)
	if err != nil {
		return nil, err
	}
	// Replies to requesters' emails reach their request where a way in
	// reads the reply address (issue 14): the footer says so.
	composer.ReadReplies(cfg.Inbound.Enabled() && cfg.Inbound.ReplyTo != "")
	policy, err := cfg.DeadlinePolicy(cfg.DeadlinePreset)
	if err != nil {
		return nil, fmt.Errorf("DEADLINE_PRESET: %w", err)
	}
	outbox, err := jobs.NewOutbox(pool)
	if err != nil {
		return nil, err
	}
	st := store.New(pool, outbox, cfg.Keys)
	if operatorID != 0 {
		st = st.For(operatorID)
	}
	workerOperator := cmp.Or(operatorID, jobs.DefaultOperator)
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

			AcknowledgementsPerDay: cfg.AcknowledgementsPerDay,
			Location:               cfg.Location,
		},
	}

	sender := opts.Sender
	mailboxDir := ""
	sendTimeout := mail.DefaultSMTPTimeout
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
			sendTimeout = cmp.Or(smtpCfg.Timeout, sendTimeout)
		} else {
			// Each operator of several has a dev mailbox of its own, so
			// that one operator's /dev/mailbox never shows another's emails.
			mailboxDir = filepath.Join(cfg.DataDir, "mailbox", cfg.Slug)
			sender = mail.DevMailbox{Dir: mailboxDir}
		}
	}
	now := clock.Now
	met := opts.metrics
	if met == nil {
		met = metrics.New(metrics.Options{Pool: pool, Now: now, Logger: logger})
	}
	jobs.Add(workers, workerOperator, river.Worker[jobs.DeliverEmailArgs](&jobs.DeliverEmailWorker{Store: st, Sender: sender, From: cfg.MailFrom, Now: now, Outcomes: met, SendTimeout: sendTimeout,
		Replies: jobs.ReplyAddress{Base: cfg.Inbound.ReplyTo, Plus: cfg.Inbound.PlusAddressing}, Threads: st}), false)
	jobs.Add(workers, workerOperator, river.Worker[jobs.PruneRateLimitsArgs](&jobs.PruneRateLimitsWorker{Store: st, Now: now}), true)
	webhookEgress := egress.Policy{AllowPrivate: cfg.WebhookAllowPrivate}
	jobs.Add(workers, workerOperator, river.Worker[jobs.DeliverWebhookArgs](&jobs.DeliverWebhookWorker{Store: st, Now: now, Egress: webhookEgress, Logger: logger}), false)
	desk := &request.Desk{
		Repo: st, Staff: st, Notes: deskNotes{st}, Letters: st, Deadlines: policy, Composer: composer, Clock: clock, Links: intake.Links,
		Config: request.DeskConfig{OrgName: cfg.OrgName, DownloadFor: cfg.DownloadLinkTTL, ComplaintURL: cfg.ComplaintURL, ComplaintText: cfg.ComplaintText,
			PauseWhileAwaiting: cfg.PauseWhileAwaiting, Preset: cfg.DeadlinePreset, Identity: cfg.IdentityCheck, Types: cfg.EnabledTypes},
	}
	mailroom := &request.Mailroom{Repo: st, Deadlines: policy, Composer: composer, Clock: clock, Links: intake.Links,
		Config: intake.Config, Types: cfg.EnabledTypes}
	inbox, err := newInbound(cfg.Inbound, pool, mailroom, logger, func(cs ...prometheus.Collector) error {
		if operatorID != 0 {
			// One of several operators: BuildOperators registers its inbound
			// metrics on the deployment's registry, labelled with its slug.
			return nil
		}
		for _, c := range cs {
			if err := met.Registry().Register(c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	expirer := &request.Expirer{Repo: st, Composer: composer, Clock: clock, Links: intake.Links, OrgName: cfg.OrgName}
	jobs.Add(workers, workerOperator, river.Worker[jobs.ExpireUnconfirmedArgs](&jobs.ExpireUnconfirmedWorker{Sweeper: expirer}), true)
	reminders := &jobs.ReminderSweep{
		Store: st, Composer: composer, Links: intake.Links, Logger: logger,
		Policy:         reminder.Policy{Thresholds: cfg.ReminderThresholds, Location: cfg.Location},
		PrivacyContact: cfg.PrivacyContact, StaffLocale: cfg.StaffLocale, OrgName: cfg.OrgName,
	}
	jobs.Add(workers, workerOperator, river.Worker[jobs.SendRemindersArgs](&jobs.SendRemindersWorker{Sweep: reminders, Now: now}), true)
	retention := &jobs.RetentionSweep{Store: st, Files: cfg.FileRetention, Personal: cfg.RetentionPeriod, Logger: logger}
	jobs.Add(workers, workerOperator, river.Worker[jobs.RetentionArgs](&jobs.RetentionWorker{Sweep: retention, Now: now}), true)
	periodic := []*river.PeriodicJob{
		jobs.PruneRateLimitsEvery(15 * time.Minute),
		jobs.ExpireUnconfirmedEvery(15 * time.Minute),
		jobs.SendRemindersEvery(cfg.ReminderInterval),
		jobs.RetentionEvery(24 * time.Hour),
	}
	ful, err := buildFulfil(cfg, st, outbox, catalog, clock, logger, opts)
	if err != nil {
		return nil, err
	}
	if ful != nil {
		desk.Fulfilment = ful
		reminders.Steps = st.Fulfilments(outbox)
		jobs.Add(workers, workerOperator, river.Worker[jobs.FulfilStepArgs](&jobs.FulfilStepWorker{Runner: ful}), false)
		jobs.Add(workers, workerOperator, river.Worker[jobs.BuildPackageArgs](&jobs.BuildPackageWorker{Runner: ful}), false)
		jobs.Add(workers, workerOperator, river.Worker[jobs.PollStepArgs](&jobs.PollStepWorker{Runner: ful}), false)
		jobs.Add(workers, workerOperator, river.Worker[jobs.AutoGatherArgs](&jobs.AutoGatherWorker{Runner: ful}), true)
		if len(cfg.AutoGather) > 0 {
			periodic = append(periodic, jobs.AutoGatherEvery(time.Minute))
		}
	}
	if opts.NoPeriodicJobs {
		periodic = nil
	}
	newRunner := func(rw *river.Workers) (*jobs.Runner, error) {
		return jobs.NewRunner(pool, rw, jobs.RunnerConfig{
			Logger:       logger,
			RetryMax:     opts.RetryMax,
			PollInterval: opts.PollInterval,
			PeriodicJobs: periodic,
			EmailWorkers: cfg.EmailWorkers,
			Instances:    st,
		})
	}
	return &assembled{runner: newRunner, finish: func(runner *jobs.Runner, operators rdweb.Operators) (*App, error) {

		// Device cookies are signed with a subkey of ENCRYPTION_KEY, so every
		// instance trusts the same browsers.
		var devices auth.Signer
		if cfg.Keys != nil {
			devices = cfg.Keys
		}
		staffAuth, err := auth.NewService(st, composer, clock, auth.Config{OrgName: cfg.OrgName, Links: intake.Links, Devices: devices})
		if err != nil {
			return nil, fmt.Errorf("staff accounts: %w", err)
		}

		apiKeys := &auth.APIKeys{Repo: st, Clock: clock}
		// A receipt page's address is signed with its operator's keys, as
		// its request's values are sealed (issue 15).
		receipts := cfg.Keys
		if operatorID != 0 && receipts != nil {
			receipts = receipts.ForOperator(operatorID)
		}
		var logo []byte
		logoExt := ""
		if cfg.Logo != nil {
			logo, logoExt = cfg.Logo.Data, cfg.Logo.Ext
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
				Preset:          cfg.DeadlinePreset,
				DevMailboxDir:   mailboxDir,
				WebhookEgress:   webhookEgress,
				BrandColor:      cfg.BrandColor,
				Logo:            logo,
				LogoExt:         logoExt,
				DefaultLocale:   cfg.DefaultLocale,
			},
			Intake: intake,
			Confirmer: &request.Confirmer{
				Repo: st, Deadlines: policy, Composer: composer, Clock: clock,
				Links: intake.Links, OrgName: cfg.OrgName,
			},
			Requester: &request.Requester{
				Repo: st, Deadlines: policy, Composer: composer, Clock: clock, Links: intake.Links, Config: intake.Config,
				DownloadFor: cfg.DownloadLinkTTL, Hits: st,
			},
			Receipts: request.Receipts{Signer: receipts, Clock: clock},
			Store:    st,
			Catalog:  catalog,
			Clock:    clock,
			Logger:   logger,
			Files:    web.Files,
			Auth:     staffAuth,
			// No cleanup goroutine: sign-ins prune expired sessions (store.RecordSignIn).
			Sessions:  pgxstore.NewWithCleanupInterval(pool, 0),
			StaffHome: st,
			Desk:      desk,
			DeskStore: st,
			Delivery:  deliveryRetrier{client: runner.Client()},
			APIKeys:   apiKeys,
			APIStore:  st,
			Webhooks:  st,
			Metrics:   met,
			Mail:      outbox,
			Fulfil:    ful,
			Letters:   st,
			Operators: operators,
		})
		if err != nil {
			return nil, err
		}
		return &App{Handler: server, Web: server, Store: st, Intake: intake, Runner: runner, Catalog: catalog, Expirer: expirer, Desk: desk, Auth: staffAuth, APIKeys: apiKeys, Reminders: reminders, Retention: retention, Metrics: met, Fulfil: ful,
			Mailroom: mailroom, Inbound: inbox, sender: sender,
			Reissuer: &request.Reissuer{Repo: st, Composer: composer, Clock: clock, Links: intake.Links, OrgName: cfg.OrgName}}, nil
	}}, nil
}

// buildFulfil assembles the answering from the data map, nil when no map
// is configured (the feature is off).
func buildFulfil(cfg config.Config, st *store.Store, outbox *jobs.Outbox, catalog *i18n.Catalog, clock request.Clock, logger *slog.Logger, opts Options) (*fulfil.Service, error) {
	if cfg.DataMap == nil {
		return nil, nil
	}
	packages, err := accesspack.New(web.Files)
	if err != nil {
		return nil, err
	}
	return &fulfil.Service{
		Systems:  connector.New(cfg.DataMap, datamap.Env(cfg.Env)),
		Store:    st.Fulfilments(outbox),
		Requests: st,
		Packages: packages,
		Catalog:  catalog,
		Clock:    clock,
		Logger:   logger,
		Config: fulfil.Config{
			Identity: cfg.IdentityCheck, Org: cfg.OrgName, Location: cfg.Location, BaseURL: cfg.BaseURL,
			AutoGather: cfg.AutoGather, StepLease: jobs.StepLease, PollFirst: opts.PollFirst, PollMax: opts.PollMax,
		},
	}, nil
}
