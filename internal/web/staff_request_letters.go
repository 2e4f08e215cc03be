package web

import (
	"context"

	"rightsdesk/internal/store"
)

// LetterStore reads the letters a request came as or was written in
// (issue 14): the request page shows them as they came, sanitised.
type LetterStore interface {
	Letters(ctx context.Context, requestID int64) (store.LetterInfo, error)
}
