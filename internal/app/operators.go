package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"rightsdesk/internal/jobs"
	"rightsdesk/internal/keyring"
	"rightsdesk/internal/metrics"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/store"
	rdweb "rightsdesk/internal/web"
)

// Deployment is every operator's application on one database (issue 15):
// one App per operator, each with its own settings and a store scoped to
// that operator, one job runner whose workers hand each job to its
// operator's, and one handler that sends each HTTP request to the App of
// the operator whose address it came on.
type Deployment struct {
	Handler http.Handler
	// Inbound is every operator's ways in: each one's polled mailbox, and
	// the deployment's one listener routing letters by their recipients.
	Inbound *Inbound
	// Apps are the operators' applications, in the order of the file.
	Apps      []*App
	Operators []*operator.Operator
}

// App returns the application of the operator with slug.
func (d *Deployment) App(slug string) (*App, bool) {
	for i, op := range d.Operators {
		if op.Slug == slug {
			return d.Apps[i], true
		}
	}
	return nil, false
}

// BuildOperators assembles the applications of several operators on an
// already migrated database; keys are the deployment's (every operator's
// configuration reads the same ENCRYPTION_KEY, or none with the private
// PostgreSQL's development key).
func BuildOperators(ctx context.Context, set *operator.Set, keys *keyring.Keyring, pool *pgxpool.Pool, logger *slog.Logger, opts Options) (*Deployment, error) {
	ops := set.All()
	slugs := make([]string, len(ops))
	for i, op := range ops {
		slugs[i] = op.Slug
	}
	all := store.New(pool, nil, keys)
	ids, err := all.RecordOperators(ctx, slugs)
	if err != nil {
		return nil, err
	}
	// Requests of an operator the file no longer (or not yet) names are
	// kept but served by no address: say so, as a deployment of one
	// operator that gains an operators file has its requests under default.
	unserved, err := all.Unserved(ctx, slugs)
	if err != nil {
		return nil, err
	}
	for _, slug := range unserved {
		logger.Warn("an operator with requests is not in OPERATORS_FILE: no address serves its requests until the file names it (slug: "+slug+")", "operator", slug)
	}
	// PostgreSQL never applies row-level security to a superuser or a role
	// with BYPASSRLS: the second wall would stand open.
	var bypass bool
	if err := pool.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass); err != nil {
		return nil, fmt.Errorf("check the database role: %w", err)
	}
	if bypass {
		logger.Warn("the database role is a superuser or has BYPASSRLS: row-level security does not keep operators apart; connect as the database owner")
	}
	// One registry for the deployment, on METRICS_ADDR: every operator's
	// App records its HTTP answers and deliveries there, and the database
	// gauges count each operator's requests and emails under its scope.
	metered := make([]metrics.Operator, len(ops))
	for i, op := range ops {
		metered[i] = metrics.Operator{Slug: op.Slug, ID: ids[op.Slug]}
	}
	clock := opts.Clock
	if clock == nil {
		clock = systemClock{}
	}
	opts.metrics = metrics.New(metrics.Options{Pool: pool, Now: clock.Now, Logger: logger, Operators: metered})
	workers := jobs.NewWorkers()
	parts := make([]*assembled, len(ops))
	for i, op := range ops {
		op.ID = ids[op.Slug]
		cfg := op.Config
		cfg.Keys = keys
		if parts[i], err = assemble(cfg, pool, logger.With("operator", op.Slug), opts, op.ID, workers); err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Slug, err)
		}
	}
	runner, err := parts[0].runner(workers.River())
	if err != nil {
		return nil, err
	}
	d := &Deployment{Operators: ops, Apps: make([]*App, len(ops))}
	dir := &directory{stores: make(map[int64]*store.Store, len(ops))}
	for _, op := range ops {
		dir.refs = append(dir.refs, rdweb.OperatorRef{ID: op.ID, Slug: op.Slug, Name: op.Config.OrgName, BaseURL: op.Config.BaseURL})
		dir.stores[op.ID] = all.For(op.ID)
	}
	byOperator := make(map[*operator.Operator]http.Handler, len(ops))
	inbounds := make([]*Inbound, len(ops))
	for i, op := range ops {
		if d.Apps[i], err = parts[i].finish(runner, operatorView{dir: dir, self: op.ID}); err != nil {
			return nil, fmt.Errorf("operator %q: %w", op.Slug, err)
		}
		inbounds[i] = d.Apps[i].Inbound
		h := d.Apps[i].Handler
		if op.PathPrefix != "" {
			h = underPathPrefix(op.PathPrefix, h)
		}
		byOperator[op] = h
	}
	// Every operator's inbound metrics on the registry METRICS_ADDR serves
	// (the deployment's, every App's), told apart by an operator label, so that a mailbox
	// that cannot be reached is seen whichever operator's it is.
	for i, op := range ops {
		if !inbounds[i].Enabled() {
			continue
		}
		reg := prometheus.WrapRegistererWith(prometheus.Labels{"operator": op.Slug}, d.Apps[0].Metrics.Registry())
		for _, c := range inbounds[i].Metrics.Collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("operator %q: inbound metrics: %w", op.Slug, err)
			}
		}
	}
	d.Inbound = deploymentInbound(inbounds, logger)
	d.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := set.Resolve(r.Host, r.URL.Path)
		if !ok {
			// No operator has this address: nothing here is anyone's.
			http.NotFound(w, r)
			return
		}
		byOperator[op].ServeHTTP(w, r)
	})
	return d, nil
}

// underPathPrefix serves h, the application of an operator whose address is
// the path prefix on a shared host, with the prefix stripped: the
// application writes every path with it again (internal/web's paths.go).
// The prefix itself is its landing page, at prefix+"/", where relative
// links and the cookies' Path (prefix+"/") hold.
func underPathPrefix(prefix string, h http.Handler) http.Handler {
	strip := http.StripPrefix(prefix, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix {
			to := (&url.URL{Path: prefix + "/", RawQuery: r.URL.RawQuery}).String()
			http.Redirect(w, r, to, http.StatusMovedPermanently) // #nosec G710 -- the operator's own configured prefix; only the query is the request's, after "?"
			return
		}
		strip.ServeHTTP(w, r)
	})
}
