package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/config"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/opscope"
	"rightsdesk/internal/pglocal"
	"rightsdesk/internal/store"
	rdweb "rightsdesk/internal/web"
	"rightsdesk/migrations"
)

// database opens the configured database, or starts the private one under
// the data folder when DATABASE_URL is not set. stop releases it.
func database(ctx context.Context, cfg config.Config, logger *slog.Logger) (pool *pgxpool.Pool, stop func(), err error) {
	dsn := cfg.DatabaseURL
	stopPG := func() {}
	if dsn == "" {
		dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "postgres"))
		if err != nil {
			return nil, nil, fmt.Errorf("data folder: %w", err)
		}
		logger.Info("starting the private PostgreSQL", "dir", dir)
		// The portal connects as the database's owner, an ordinary role,
		// so that row-level security keeps operators apart here as it does
		// in production (a superuser passes through every policy).
		srv, err := pglocal.Start(ctx, pglocal.Options{DataDir: dir, Owner: pglocal.DefaultOwner, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("private PostgreSQL: %w", err)
		}
		dsn = srv.OwnerConnString("rightsdesk")
		stopPG = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			adopted := srv.Adopted() // then Stop leaves it running, and says so
			if err := srv.Stop(sctx); err != nil {
				logger.Error("stop the private PostgreSQL", "error", err)
			} else if !adopted {
				logger.Info("private PostgreSQL stopped")
			}
		}
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		stopPG()
		// The DSN may hold a password: say what failed, not the DSN.
		return nil, nil, errors.New("DATABASE_URL: cannot be parsed as a PostgreSQL connection string")
	}
	withoutJIT(pcfg)
	// Connections take the operator scope of the work they are taken for.
	opscope.Configure(pcfg)
	pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		stopPG()
		return nil, nil, fmt.Errorf("database pool: %w", err)
	}
	return pool, func() { pool.Close(); stopPG() }, nil
}

// withoutJIT turns PostgreSQL's JIT compilation off on the portal's
// connections (a startup parameter, so no round trip), unless the
// DATABASE_URL sets jit itself (jit=on keeps it). Row-level security's
// operator condition makes the planner expect far more rows than the
// pages and sweeps read, and above jit_above_cost it compiled a 25 ms
// query for over a second (docs/benchmarks.md); the portal's statements
// read by index, where JIT has nothing to win.
func withoutJIT(cfg *pgxpool.Config) {
	params := cfg.ConnConfig.RuntimeParams
	if _, set := params["jit"]; set || strings.Contains(params["options"], "jit") {
		return
	}
	params["jit"] = "off"
}

// Migrate applies every pending migration and returns.
func Migrate(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	_, stop, err := migrated(ctx, &cfg, logger)
	if err != nil {
		return err
	}
	stop()
	return nil
}

// migrated opens the database as database does, with the encryption keys
// settled (the private PostgreSQL's development key when ENCRYPTION_KEY is
// not set), and applies every pending migration.
func migrated(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*pgxpool.Pool, func(), error) {
	pool, stop, err := database(ctx, *cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	// After the private PostgreSQL has made the data folder its own way
	// (it must stay enterable by the postgres user).
	if cfg.Keys == nil {
		kr, err := devKeyring(cfg.DataDir, logger)
		if err != nil {
			stop()
			return nil, nil, err
		}
		cfg.Keys = kr
	}
	if err := migrations.Up(ctx, pool, logger, cfg.Keys); err != nil {
		stop()
		return nil, nil, err
	}
	return pool, stop, nil
}

// Serve runs the portal until ctx is done, then shuts down in order: stop
// taking requests and let those in flight finish, stop the job workers,
// close the database (and stop the private PostgreSQL).
func Serve(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := checkDataMap(ctx, cfg, logger); err != nil {
		return err
	}
	pool, stop, err := migrated(ctx, &cfg, logger)
	if err != nil {
		return err
	}
	defer stop()
	a, operators, err := buildDeployment(ctx, cfg, pool, logger)
	if err != nil {
		return err
	}
	if err := a.Runner.Start(ctx); err != nil {
		return fmt.Errorf("start job workers: %w", err)
	}
	// Letters by email (issue 14), when a way in is configured: the
	// listener is bound here, so a port taken stops the start.
	stopInbound := func() {}
	var inboundErr <-chan error
	if a.Inbound.Enabled() {
		if stopInbound, inboundErr, err = a.Inbound.Start(ctx); err != nil {
			stopRunner(a, logger)
			return err
		}
	}
	srv := &http.Server{
		Addr:              cfg.ListenAddr,
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 3)
	// The operator's listener (metrics and pprof) is bound before the public
	// one serves, so a taken port stops the start rather than going unseen.
	ops, err := listenOps(cfg, a, logger)
	if err != nil {
		stopInbound()
		stopRunner(a, logger)
		return err
	}
	if inboundErr != nil {
		// A way in that stops on its own stops the server, as a listener does.
		go func() {
			select {
			case err := <-inboundErr:
				errc <- err
			case <-ctx.Done():
			}
		}()
	}
	if ops != nil {
		go func() {
			if err := ops.srv.Serve(ops.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics listener on %s: %w", cfg.MetricsAddr, err)
			}
		}()
	}
	go func() {
		err := srv.ListenAndServe()
		errc <- fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}()
	metricsAt := ""
	if ops != nil {
		metricsAt = ops.ln.Addr().String()
	}
	logServing(logger, cfg, operators, metricsAt)

	select {
	case err := <-errc:
		shutdownHTTP(logger, srv, ops)
		stopInbound()
		stopRunner(a, logger)
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownHTTP(logger, srv, ops)
	stopInbound()
	stopRunner(a, logger)
	return nil
}

// opsListener serves /metrics and pprof on METRICS_ADDR.
type opsListener struct {
	ln  net.Listener
	srv *http.Server
}

// listenOps binds METRICS_ADDR; nil when it is not set.
func listenOps(cfg config.Config, a *App, logger *slog.Logger) (*opsListener, error) {
	if cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("METRICS_ADDR: listen on %s: %w", cfg.MetricsAddr, err)
	}
	return &opsListener{ln: ln, srv: &http.Server{
		Handler:           a.Metrics.OpsHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		// A CPU profile or trace runs for ?seconds= (30 by default): the
		// write timeout leaves room for it.
		WriteTimeout: 2 * time.Minute,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// shutdownHTTP stops taking requests on both listeners and lets those in
// flight finish, within 30 seconds.
func shutdownHTTP(logger *slog.Logger, srv *http.Server, ops *opsListener) {
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Error("http shutdown", "error", err)
	}
	if ops != nil {
		// A profile still running when the time is up is cut short.
		if err := ops.srv.Shutdown(sctx); err != nil {
			_ = ops.srv.Close()
			logger.Error("metrics listener shutdown", "error", err)
		}
	}
}

func stopRunner(a *App, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Runner.Stop(ctx); err != nil {
		logger.Error("stop job workers", "error", err)
	}
	apps := a.operators
	if apps == nil {
		apps = []*App{a}
	}
	for _, op := range apps {
		if c, ok := op.sender.(io.Closer); ok {
			if err := c.Close(); err != nil {
				logger.Error("close SMTP connections", "error", err)
			}
		}
		if op.Fulfil != nil {
			if err := op.Fulfil.Systems.Close(); err != nil {
				logger.Error("close the data map's connections", "error", err)
			}
		}
	}
}

// buildDeployment assembles the operators of OPERATORS_FILE, or the
// environment's one operator without it. A deployment of one operator is
// built as it always was: it answers on any host, and its rows are the
// database's one operator's whatever its slug.
// served is an operator a deployment serves: its slug ("" for the one of a
// deployment without OPERATORS_FILE) and its settings.
type served struct {
	slug string
	cfg  config.Config
}

func buildDeployment(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger) (*App, []served, error) {
	if cfg.Env == nil {
		a, err := Build(cfg, pool, logger, Options{})
		if err != nil {
			return nil, nil, err
		}
		return a, []served{{cfg: cfg}}, countDashboard(ctx, a.Store, cfg, logger)
	}
	set, err := operator.Load(cfg.Env)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	if set.Len() == 1 {
		one := set.All()[0].Config
		one.Keys = cfg.Keys
		a, err := Build(one, pool, logger, Options{})
		if err != nil {
			return nil, nil, err
		}
		return a, []served{{cfg: one}}, countDashboard(ctx, a.Store, one, logger)
	}
	d, err := BuildOperators(ctx, set, cfg.Keys, pool, logger, Options{})
	if err != nil {
		return nil, nil, err
	}
	ops := make([]served, len(d.Operators))
	for i, op := range d.Operators {
		// Each operator's data map is its own: its systems are checked, and
		// connected to, for that operator alone.
		if err := checkDataMap(ctx, op.Config, logger.With("operator", op.Slug)); err != nil {
			return nil, nil, fmt.Errorf("operator %s: %w", op.Slug, err)
		}
		if err := countDashboard(ctx, d.Apps[i].Store, op.Config, logger); err != nil {
			return nil, nil, fmt.Errorf("operator %s: %w", op.Slug, err)
		}
		ops[i] = served{slug: op.Slug, cfg: op.Config}
	}
	// The first operator's App carries what is the deployment's: the job
	// runner (shared), the metrics listener; the handler and the ways in
	// are every operator's.
	a := *d.Apps[0]
	a.Handler = d.Handler
	a.Inbound = d.Inbound
	a.operators = d.Apps
	return &a, ops, nil
}

// countDashboard has the dashboard's rollups counted in the operator's
// TIMEZONE before anything serves: after a change of TIMEZONE they are
// counted again from every request, which holds off changes to the
// requests while it runs (seconds at a million), so it happens at start,
// said in the log, rather than on a staff member's first dashboard.
func countDashboard(ctx context.Context, st *store.Store, cfg config.Config, logger *slog.Logger) error {
	start := time.Now()
	counted, err := st.DashboardZone(ctx, cfg.Location.String())
	if err != nil {
		return err
	}
	if counted {
		logger.Info("the dashboard's figures counted in the operator's time zone", "timezone", cfg.Location.String(), "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// logServing says where the portal serves: its address and each operator's
// (several, OPERATORS_FILE), with its dev mailbox when mail stays here.
func logServing(logger *slog.Logger, cfg config.Config, operators []served, metricsAt string) {
	attrs := []any{"addr", cfg.ListenAddr}
	if metricsAt != "" {
		attrs = append(attrs, "metrics_addr", metricsAt)
	}
	for _, op := range operators {
		at := []any{"base_url", op.cfg.BaseURL}
		if op.slug != "" {
			at = append([]any{"operator", op.slug}, at...)
		}
		if op.cfg.SMTPURL == "" {
			if why := rdweb.DevMailboxRefusal(op.cfg.BaseURL); why != "" {
				logger.Warn("the dev mailbox is off: " + why + "; without SMTP_URL emails are only written to " + filepath.Join(op.cfg.DataDir, "mailbox", op.slug))
			} else {
				at = append(at, "dev_mailbox", op.cfg.BaseURL+"/dev/mailbox")
			}
		}
		if len(operators) == 1 {
			attrs = append(attrs, at...)
			break
		}
		logger.Info("serving operator", at...)
	}
	if len(operators) > 1 {
		attrs = append(attrs, "operators", len(operators))
	}
	logger.Info("rightsdesk is serving", attrs...)
}
