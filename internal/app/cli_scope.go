package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/config"
	"rightsdesk/internal/jobs"
	"rightsdesk/internal/operator"
	"rightsdesk/internal/store"
)

// operatorFlagHelp is how every command that acts within one operator's
// requests describes --operator.
const operatorFlagHelp = "the operator to act for (OPERATORS_FILE; required when it names several)"

// chosenOperator is the operator a command is to act for (issue 15): the
// one --operator names, which must be in OPERATORS_FILE and is required
// when the file names several. With one operator (no file, or a file of
// one) none need be named and op is nil: the command acts as it always did.
func chosenOperator(c *cli, slug string) (set *operator.Set, op *operator.Operator, err error) {
	set, err = operator.Load(c.env)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	if slug != "" {
		found, ok := set.BySlug(slug)
		if !ok {
			return nil, nil, fmt.Errorf("--operator: no operator %q (rightsdesk operator list)", slug)
		}
		if set.Len() > 1 {
			op = found
		}
	} else if set.Len() > 1 {
		slugs := make([]string, 0, set.Len())
		for _, o := range set.All() {
			slugs = append(slugs, o.Slug)
		}
		return nil, nil, fmt.Errorf("--operator SLUG is required: OPERATORS_FILE names %d operators: %s", set.Len(), strings.Join(slugs, ", "))
	}
	return set, op, nil
}

// operatorConfig is the configuration of the operator a command that needs
// no database acts for (chosenOperator): the one --operator names, its
// settings over the environment's; with one operator, that one's, as serve
// reads it (the environment's when there is no operators file).
func operatorConfig(c *cli, slug string) (config.Config, error) {
	set, op, err := chosenOperator(c, slug)
	if err != nil {
		return config.Config{}, err
	}
	if op == nil {
		op = set.All()[0]
	}
	return op.Config, nil
}

// withOperator opens and migrates the database as withDatabase does and
// runs fn for the operator slug names (chosenOperator): with several
// operators, fn has that operator's configuration (its settings over the
// environment's, the deployment's keys) and its id in the database; with
// one, the environment's configuration and id 0, as before there could be
// several.
func withOperator(ctx context.Context, c *cli, slug string, fn func(cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool, operatorID int64) error) error {
	set, op, err := chosenOperator(c, slug)
	if err != nil {
		return err
	}
	return withDatabase(ctx, c, func(cfg config.Config, logger *slog.Logger, pool *pgxpool.Pool) error {
		if op == nil {
			return fn(cfg, logger, pool, 0)
		}
		all := set.All()
		slugs := make([]string, len(all))
		for i, o := range all {
			slugs[i] = o.Slug
		}
		ids, err := store.New(pool, nil, cfg.Keys).RecordOperators(ctx, slugs)
		if err != nil {
			return err
		}
		opCfg := op.Config
		opCfg.Keys = cfg.Keys // the deployment's, or the development key migrated found
		return fn(opCfg, logger.With("operator", op.Slug), pool, ids[op.Slug])
	})
}

// withOperatorOutbox is withOperator for commands that work through the
// store and the job queues: the store is the operator's (store.For) with
// several operators.
func withOperatorOutbox(ctx context.Context, c *cli, slug string, fn func(config.Config, *store.Store, *jobs.Outbox) error) error {
	return withOperator(ctx, c, slug, func(cfg config.Config, _ *slog.Logger, pool *pgxpool.Pool, operatorID int64) error {
		outbox, err := jobs.NewOutbox(pool)
		if err != nil {
			return err
		}
		st := store.New(pool, outbox, cfg.Keys)
		if operatorID != 0 {
			st = st.For(operatorID)
		}
		return fn(cfg, st, outbox)
	})
}

// buildOperator is Build for the operator operatorID names (0: the
// deployment of one operator), for commands that run an operator's
// services outside serve.
func buildOperator(cfg config.Config, pool *pgxpool.Pool, logger *slog.Logger, opts Options, operatorID int64) (*App, error) {
	workers := jobs.NewWorkers()
	part, err := assemble(cfg, pool, logger, opts, operatorID, workers)
	if err != nil {
		return nil, err
	}
	runner, err := part.runner(workers.River())
	if err != nil {
		return nil, err
	}
	return part.finish(runner, nil)
}
