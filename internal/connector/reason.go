package connector

import (
	"context"
	"errors"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"rightsdesk/internal/datamap"
)

// Why a system's step failed, as a code staff read in words
// (web/locales/*/fulfilment.toml, "fulfil.reason.<code>"). A driver's own
// message can quote a host, a user or a value from the person's rows, so it
// is never shown or stored: Reason keeps only which of these it was.
const (
	ReasonUnreachable   = "unreachable"    // no connection: the system is down, or the network
	ReasonTimeout       = "timeout"        // it did not answer in time
	ReasonBusy          = "busy"           // too many connections, a lock, a deadlock: try later
	ReasonCredentials   = "credentials"    // the variable is unset, or the server refused the user
	ReasonNoChangeCreds = "no_change_url"  // #nosec G101 -- a reason code, no credential: the map gives no change credentials
	ReasonHashKey       = "hash_key"       // keyed-hash erasure without its key
	ReasonSchema        = "schema"         // a table or column of the map is not there
	ReasonPermission    = "permission"     // the role may not read or change a table
	ReasonConstraint    = "constraint"     // a foreign key or another constraint stopped the change
	ReasonValue         = "value"          // a value does not fit its column (a correction)
	ReasonRefused       = "refused"        // the operator's system refused the action
	ReasonNoAnswer      = "no_answer"      // the operator's system never said how the action went
	ReasonBadAnswer     = "bad_answer"     // the operator's system answered something unreadable
	ReasonOther         = "other"          // anything else (the log has the cause)
	ReasonStale         = "map_changed"    // the data map changed since the step was planned
	ReasonNotConfigured = "not_configured" // the system is no longer in the data map
)

// Reason says why err, a failure of a system's step, happened, as one of
// the codes above.
func Reason(err error) string {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoChangeCredentials):
		return ReasonNoChangeCreds
	case errors.Is(err, ErrNoHashKey):
		return ReasonHashKey
	case errors.Is(err, datamap.ErrUnset):
		return ReasonCredentials
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return ReasonTimeout
	case errors.As(err, &pgErr):
		return pgReason(pgErr.Code)
	case errors.As(err, &myErr):
		return mysqlReason(myErr.Number)
	case transient(err):
		return ReasonUnreachable
	}
	return ReasonOther
}

func pgReason(code string) string {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "57P"):
		return ReasonUnreachable
	case strings.HasPrefix(code, "40"), strings.HasPrefix(code, "53"), code == "55P03":
		return ReasonBusy
	case strings.HasPrefix(code, "28"):
		return ReasonCredentials
	case code == "42501":
		return ReasonPermission
	case strings.HasPrefix(code, "42"):
		return ReasonSchema
	case strings.HasPrefix(code, "23"):
		return ReasonConstraint
	case strings.HasPrefix(code, "22"):
		return ReasonValue
	}
	return ReasonOther
}

func mysqlReason(n uint16) string {
	switch n {
	case 2002, 2003, 2006, 2013, 1053:
		return ReasonUnreachable
	case 1040, 1205, 1213, 1317:
		return ReasonBusy
	case 1045, 1044, 1049:
		return ReasonCredentials
	case 1142, 1143:
		return ReasonPermission
	case 1146, 1054:
		return ReasonSchema
	case 1451, 1452, 1062, 1048, 4025:
		return ReasonConstraint
	case 1264, 1265, 1292, 1366, 1406:
		return ReasonValue
	}
	return ReasonOther
}
