package app

import (
	"context"
	"time"

	"rightsdesk/internal/store"
	rdweb "rightsdesk/internal/web"
)

// directory is the deployment's operators as their workspaces see one
// another (issue 15): names and addresses for the switcher, and each
// operator's counts for the platform page, read through that operator's
// own store so that row-level security scopes every statement to it.
type directory struct {
	refs   []rdweb.OperatorRef
	stores map[int64]*store.Store
}

// Counts counts one operator's requests and emails under its own scope.
func (d *directory) counts(ctx context.Context, operatorID int64, now time.Time) (store.OperatorCounts, error) {
	st, ok := d.stores[operatorID]
	if !ok {
		return store.OperatorCounts{}, store.ErrNotFound
	}
	return st.OperatorCounts(ctx, now)
}

// operatorView is the directory as the operator self's workspace sees it.
type operatorView struct {
	dir  *directory
	self int64
}

func (v operatorView) Self() int64              { return v.self }
func (v operatorView) All() []rdweb.OperatorRef { return v.dir.refs }
func (v operatorView) Counts(ctx context.Context, operatorID int64, now time.Time) (store.OperatorCounts, error) {
	return v.dir.counts(ctx, operatorID, now)
}
