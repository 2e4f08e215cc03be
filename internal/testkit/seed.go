package testkit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"rightsdesk/internal/keyring"
	"rightsdesk/internal/request"
	"rightsdesk/internal/sealed"
)

// SeedOptions shapes the data SeedRequests makes.
type SeedOptions struct {
	// Now is the moment the data is spread around: closed requests in the
	// three years before it, open ones due around it. Required.
	Now time.Time
	// Seed makes the data reproducible: the same seed, the same requests.
	Seed uint64
	// Staff is how many agents share the work; 10 when zero.
	Staff int
}

// Seeded describes what SeedRequests made.
type Seeded struct {
	StaffIDs []int64
	// FirstID and LastID bound the ids of the seeded requests.
	FirstID, LastID int64
}

// SeedRequests adds n requests with a realistic mix, for benchmarks and for
// tests that need volume. About 70% are closed (received over the three years
// before opts.Now; completed, rejected, withdrawn or expired; a tenth of the
// answers late), 30% open (received in the last five weeks, so due dates fall
// around opts.Now and about a sixth are overdue). Types, languages, assignees
// (opts.Staff agents; most new requests nobody's), representatives, possible
// duplicates (~1% of open ones) and failed emails (~1%) are mixed in. Names
// and emails are fake: Russian, Kazakh and English names, numbered addresses.
//
// Rows go in through COPY, which at a million rows is dominated by the index
// maintenance of the requests table rather than by the transfer.
func SeedRequests(ctx context.Context, pool *pgxpool.Pool, n int, opts SeedOptions) (Seeded, error) {
	var out Seeded
	if opts.Now.IsZero() {
		return out, errors.New("seed: SeedOptions.Now is required")
	}
	if opts.Staff <= 0 {
		opts.Staff = 10
	}
	ids, err := seedStaff(ctx, pool, opts)
	if err != nil {
		return out, err
	}
	out.StaffIDs = ids
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM requests`).Scan(&out.FirstID); err != nil {
		return out, fmt.Errorf("seed: find the last request: %w", err)
	}
	out.FirstID++

	columns := seedColumns

	// One COPY per core: the time goes into maintaining the table's indexes,
	// which each backend does for its own rows.
	workers := min(runtime.NumCPU(), max(1, n/10_000))
	copied := make([]int64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		first, last := n*w/workers, n*(w+1)/workers
		g := newSeedGenerator(opts, uint64(w), first, ids)
		wg.Add(1)
		go func() {
			defer wg.Done()
			copied[w], errs[w] = copyRequests(ctx, pool, columns, pgx.CopyFromFunc(func() ([]any, error) {
				if g.made == last {
					return nil, nil
				}
				return g.next()
			}))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("seed: copy %d requests: %w", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM requests`).Scan(&out.LastID); err != nil {
		return out, fmt.Errorf("seed: find the last request: %w", err)
	}
	var total int64
	for _, c := range copied {
		total += c
	}
	if total != int64(n) {
		return out, fmt.Errorf("seed: copied %d requests, wanted %d", total, n)
	}

	// Possible duplicates point at an earlier request; which one does not
	// matter to the queue, only that the link is there.
	if _, err := pool.Exec(ctx, `
		UPDATE requests SET duplicate_of = id - 1
		WHERE id > $1 AND id <= $2 AND id % 100 = 7 AND status = ANY($3)`,
		out.FirstID, out.LastID, request.OpenStatuses()); err != nil {
		return out, fmt.Errorf("seed: link duplicates: %w", err)
	}
	// ~1% of requests have an acknowledgement that keeps failing. Only those
	// emails are made: the queue's failed-email probe reads a partial index of
	// failed emails, whose cost does not depend on how many were sent.
	if _, err := pool.Exec(ctx, failedEmailSQL(`id % 100 = 3`), out.FirstID, out.LastID); err != nil {
		return out, fmt.Errorf("seed: failed emails: %w", err)
	}
	return out, nil
}

// failedEmailSQL gives the requests with ids between $1 and $2 that meet
// cond an acknowledgement whose delivery keeps failing.
func failedEmailSQL(cond string) string {
	return `
	WITH ev AS (
		INSERT INTO events (request_id, kind, actor, to_status, created_at)
		SELECT id, 'received', 'requester', status, received_at FROM requests
		WHERE id >= $1 AND id <= $2 AND ` + cond + `
		RETURNING id, request_id, created_at)
	INSERT INTO emails (request_id, event_id, kind, locale, message_id, sealed,
		state, attempts, last_error, created_at, last_attempt_at)
	SELECT ev.request_id, ev.id, 'acknowledgement', r.locale,
		'seed-' || ev.id || '@rightsdesk.invalid', NULL,
		'failed', 3, '451 4.3.0 mailbox temporarily unavailable', ev.created_at, ev.created_at
	FROM ev JOIN requests r ON r.id = ev.request_id`
}

func seedStaff(ctx context.Context, pool *pgxpool.Pool, opts SeedOptions) ([]int64, error) {
	var existing int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM staff`).Scan(&existing); err != nil {
		return nil, fmt.Errorf("seed: count staff: %w", err)
	}
	names := []string{"Айгерим Сапарова", "Дмитрий Ким", "Әсел Нұрланқызы", "Ержан Қалиев", "Olga Petrova",
		"Мадина Оспанова", "Тимур Ахметов", "Жанар Бекова", "Сергей Волков", "Ұлпан Төлеуова"}
	ids := make([]int64, 0, opts.Staff)
	for i := range opts.Staff {
		var id int64
		err := pool.QueryRow(ctx, `
			INSERT INTO staff (email, name, role, created_at, updated_at)
			VALUES ($1, $2, 'agent', $3, $3) RETURNING id`,
			"agent"+strconv.Itoa(existing+i+1)+"@seed.rightsdesk.invalid", names[i%len(names)], opts.Now).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("seed: add staff: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// copyRequests copies rows into requests. PostgreSQL refuses COPY into a
// table under row-level security (issue 15), so the rows are copied into a
// temporary table of the connection and moved with one INSERT, which the
// policies check like any other.
func copyRequests(ctx context.Context, pool *pgxpool.Pool, columns []string, rows pgx.CopyFromSource) (int64, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	list := pgx.Identifier{columns[0]}.Sanitize()
	for _, c := range columns[1:] {
		list += ", " + pgx.Identifier{c}.Sanitize()
	}
	if _, err := conn.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS seed_requests AS SELECT `+list+` FROM requests WITH NO DATA`); err != nil {
		return 0, fmt.Errorf("staging table: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS seed_requests`) }()
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"seed_requests"}, columns, rows); err != nil {
		return 0, err
	}
	tag, err := conn.Exec(ctx, `INSERT INTO requests (`+list+`) SELECT `+list+` FROM seed_requests`)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

var seedColumns = []string{
	"reference", "type", "status", "locale", "received_at", "confirmed_at",
	"closed_at", "due_at", "deadline_rule", "deadline_legal_ref", "deadline_basis", "personal", "search_index",
	"email_index", "on_behalf", "relationship", "access_scope", "assignee_id", "updated_at",
}

// seedGenerator makes one request row at a time, so that a million rows
// never sit in memory together.
type seedGenerator struct {
	now   time.Time
	src   *rand.ChaCha8 // also the reader references and token hashes are drawn from
	rnd   *rand.Rand
	staff []int64
	made  int // the number of the next row
	keys  *keyring.Keyring
}

// newSeedGenerator returns the generator of one COPY stream, which numbers
// its rows (in email addresses) from first.
func newSeedGenerator(opts SeedOptions, stream uint64, first int, staff []int64) *seedGenerator {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], opts.Seed)
	binary.LittleEndian.PutUint64(seed[8:], stream)
	src := rand.NewChaCha8(seed)
	return &seedGenerator{now: opts.Now, src: src, rnd: rand.New(src), staff: staff, made: first, keys: testKeys()} // #nosec G404 -- reproducible test data from a seed, not a secret
}

// weighted picks one of choices with the given weights (which sum to 100).
func weighted[T any](rnd *rand.Rand, choices []T, weights []int) T {
	x := rnd.IntN(100)
	for i, w := range weights {
		if x < w {
			return choices[i]
		}
		x -= w
	}
	return choices[len(choices)-1]
}

var (
	seedTypes       = []request.Type{request.Access, request.Erasure, request.Rectification, request.ConsentWithdrawal, request.Objection, request.Restriction, request.Portability}
	seedTypeWeights = []int{35, 25, 12, 10, 6, 6, 6}
	seedLocales     = []request.Locale{request.Russian, request.Kazakh, request.English}
	seedLocaleShare = []int{60, 25, 15}
	seedClosed      = []request.Status{request.Completed, request.Rejected, request.Withdrawn, request.Expired}
	seedClosedShare = []int{70, 12, 10, 8}
	seedOpen        = []request.Status{request.Unverified, request.New, request.InProgress, request.AwaitingRequester}
	seedOpenShare   = []int{8, 30, 45, 17}

	// First names and surnames by locale; the transliteration is what the
	// email address is made of.
	seedNames = map[request.Locale]struct{ first, last [][2]string }{
		request.Russian: {
			first: [][2]string{{"Иван", "ivan"}, {"Анна", "anna"}, {"Сергей", "sergey"}, {"Ольга", "olga"}, {"Дмитрий", "dmitry"},
				{"Елена", "elena"}, {"Алексей", "alexey"}, {"Мария", "maria"}, {"Николай", "nikolay"}, {"Татьяна", "tatyana"}},
			last: [][2]string{{"Иванов", "ivanov"}, {"Петров", "petrov"}, {"Смирнов", "smirnov"}, {"Кузнецов", "kuznetsov"},
				{"Попов", "popov"}, {"Соколов", "sokolov"}, {"Лебедев", "lebedev"}, {"Козлов", "kozlov"}, {"Новиков", "novikov"},
				{"Морозов", "morozov"}, {"Волков", "volkov"}, {"Ким", "kim"}},
		},
		request.Kazakh: {
			first: [][2]string{{"Әлия", "aliya"}, {"Ұлан", "ulan"}, {"Қайрат", "kairat"}, {"Айгүл", "aigul"}, {"Нұржан", "nurzhan"},
				{"Гүлнар", "gulnar"}, {"Ерлан", "erlan"}, {"Жұлдыз", "zhuldyz"}, {"Бауыржан", "baurzhan"}, {"Өмірзақ", "omirzak"}},
			last: [][2]string{{"Жұмабеков", "zhumabekov"}, {"Қасымов", "kasymov"}, {"Нұрланов", "nurlanov"}, {"Сәрсенбаев", "sarsenbaev"},
				{"Тоқтаров", "toktarov"}, {"Әбенов", "abenov"}, {"Құнанбаев", "kunanbaev"}, {"Өтегенов", "otegenov"},
				{"Бекмұхамбетов", "bekmukhambetov"}, {"Ысқақов", "yskakov"}, {"Үсенов", "usenov"}, {"Ғабитов", "gabitov"}},
		},
		request.English: {
			first: [][2]string{{"John", "john"}, {"Emma", "emma"}, {"Michael", "michael"}, {"Olivia", "olivia"}, {"David", "david"},
				{"Sophie", "sophie"}, {"James", "james"}, {"Grace", "grace"}, {"Daniel", "daniel"}, {"Chloe", "chloe"}},
			last: [][2]string{{"Smith", "smith"}, {"Johnson", "johnson"}, {"Brown", "brown"}, {"Taylor", "taylor"},
				{"Wilson", "wilson"}, {"Evans", "evans"}, {"Walker", "walker"}, {"Wright", "wright"}, {"Hughes", "hughes"},
				{"Green", "green"}, {"Baker", "baker"}, {"Clarke", "clarke"}},
		},
	}
	seedDomains = []string{"example.kz", "mail.example.ru", "example.com", "edu.example.kz"}
)

func (g *seedGenerator) next() ([]any, error) {
	rnd := g.rnd
	i := g.made
	g.made++

	ref, err := request.NewReference(g.src)
	if err != nil {
		return nil, fmt.Errorf("seed: reference: %w", err)
	}
	typ := weighted(rnd, seedTypes, seedTypeWeights)
	locale := weighted(rnd, seedLocales, seedLocaleShare)
	day := 24 * time.Hour
	jitter := func(limit time.Duration) time.Duration { return time.Duration(rnd.Int64N(int64(limit))) }

	var (
		status    request.Status
		received  time.Time
		confirmed any
		closed    any
		assignee  any
		updated   time.Time
	)
	if rnd.IntN(100) < 70 {
		status = weighted(rnd, seedClosed, seedClosedShare)
		received = g.now.Add(-3*day - jitter(3*365*day)).Truncate(time.Second)
		var took time.Duration
		switch status {
		case request.Expired:
			took = 7 * day
		case request.Withdrawn:
			took = jitter(20 * day)
		default:
			took = day + jitter(27*day)
			if rnd.IntN(10) == 0 { // a tenth of the answers come late
				took = 31*day + jitter(20*day)
			}
		}
		end := received.Add(took)
		if latest := g.now.Add(-time.Minute); end.After(latest) {
			end = latest
		}
		closed, updated = end, end
		if status != request.Expired {
			confirmed = received.Add(jitter(2 * time.Hour))
		}
		if status == request.Completed || status == request.Rejected || rnd.IntN(10) < 7 {
			assignee = g.staff[rnd.IntN(len(g.staff))]
		}
	} else {
		status = weighted(rnd, seedOpen, seedOpenShare)
		age := jitter(36 * day)
		if status == request.Unverified {
			age = jitter(3 * day)
		}
		received = g.now.Add(-age).Truncate(time.Second)
		updated = received
		if status != request.Unverified {
			confirmed = received.Add(jitter(2 * time.Hour))
		}
		if (status == request.New && rnd.IntN(10) < 4) || (status != request.New && status != request.Unverified && rnd.IntN(20) != 0) {
			assignee = g.staff[rnd.IntN(len(g.staff))]
		}
	}
	rule, legalRef, basis, period := "default.calendar_30d", "", "30 calendar days (rightsdesk default)", 30*day
	if typ == request.ConsentWithdrawal {
		// Roughly 15 working days: the exact date does not matter here.
		rule, legalRef, basis, period = "kz.consent_withdrawal", "Law of RK No. 94-V, art. 8(7)", "15 working days", 21*day
	}
	due := received.Add(period)

	names := seedNames[locale]
	first, last := names.first[rnd.IntN(len(names.first))], names.last[rnd.IntN(len(names.last))]
	fullName, lastName := first[0]+" "+last[0], last[0]
	if locale != request.English && rnd.IntN(2) == 0 {
		lastName = feminine(last[0])
		fullName = first[0] + " " + lastName
	}
	email := first[1] + "." + last[1] + strconv.Itoa(i) + "@" + seedDomains[rnd.IntN(len(seedDomains))]
	if rnd.IntN(10) == 0 { // people type their address as they like
		email = strings.ToUpper(email[:1]) + email[1:]
	}

	var subject, relationship, accessScope, correction, processing string
	onBehalf := rnd.IntN(100) < 8
	if onBehalf {
		subject = names.first[rnd.IntN(len(names.first))][0] + " " + lastName
		relationship = string(weighted(rnd, []request.Relationship{request.Parent, request.Guardian, request.Representative}, []int{80, 10, 10}))
	}
	switch {
	case typ == request.Access:
		accessScope = weighted(rnd, []string{"information", "copy"}, []int{40, 60})
	case typ == request.Rectification:
		correction = "Неверная дата рождения в профиле / Wrong date of birth in the profile"
	case typ.NeedsProcessing():
		processing = "Рассылки и рекламные уведомления / Marketing emails"
	}
	phone := ""
	if rnd.IntN(3) == 0 {
		phone = "+7 70" + strconv.Itoa(1000000+rnd.IntN(9000000))
	}
	personal, index, emailIndex, err := sealed.SealPersonal(g.keys, sealed.Personal{
		FullName: fullName, Email: email, Phone: phone, Details: "Прошу рассмотреть моё обращение. Seed request.",
		SubjectName: subject, Correction: correction, Processing: processing,
	})
	if err != nil {
		return nil, err
	}
	return []any{
		ref, string(typ), string(status), string(locale), received, confirmed,
		closed, due, rule, legalRef, basis, personal, index, emailIndex,
		onBehalf, relationship, accessScope, assignee, updated,
	}, nil
}

// feminine turns a Russian or Kazakh surname into its feminine form
// (Иванов → Иванова); others are left as they are.
func feminine(surname string) string {
	if strings.HasSuffix(surname, "ов") || strings.HasSuffix(surname, "ев") || strings.HasSuffix(surname, "ин") {
		return surname + "а"
	}
	return surname
}

// Req is one request for AddRequest: tests that need particular rows say
// only what matters to them.
type Req struct {
	Reference   string         // a fresh random one when empty
	Type        request.Type   // access when empty
	Status      request.Status // new when empty
	Locale      request.Locale // ru when empty
	FullName    string         // "Test Person" when empty
	Email       string         // person@example.kz when empty
	ReceivedAt  time.Time      // required
	DueAt       time.Time      // ReceivedAt + 30 days when zero
	ConfirmedAt time.Time      // NULL when zero
	ClosedAt    time.Time      // NULL when zero
	AssigneeID  int64          // nobody when zero
	OnBehalf    bool
	DuplicateOf int64
	Rule        string // default.calendar_30d when empty
	LegalRef    string
}

// AddRequest inserts one request as it is, bypassing the domain (no event,
// no emails), and returns its id.
func AddRequest(ctx context.Context, pool *pgxpool.Pool, r Req) (int64, error) {
	if r.ReceivedAt.IsZero() {
		return 0, errors.New("add request: ReceivedAt is required")
	}
	if r.Reference == "" {
		ref, err := request.NewReference(nil)
		if err != nil {
			return 0, err
		}
		r.Reference = ref
	}
	r.Type = cmpOr(r.Type, request.Access)
	r.Status = cmpOr(r.Status, request.New)
	r.Locale = cmpOr(r.Locale, request.Russian)
	r.FullName = cmpOr(r.FullName, "Test Person")
	r.Email = cmpOr(r.Email, "person@example.kz")
	r.Rule = cmpOr(r.Rule, "default.calendar_30d")
	if r.DueAt.IsZero() {
		r.DueAt = r.ReceivedAt.AddDate(0, 0, 30)
	}
	nullTime := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t
	}
	nullID := func(id int64) any {
		if id == 0 {
			return nil
		}
		return id
	}
	scope := ""
	if r.Type == request.Access {
		scope = "copy"
	}
	relationship := ""
	if r.OnBehalf {
		relationship = string(request.Parent)
	}
	personal, index, emailIndex, err := sealed.SealPersonal(testKeys(), sealed.Personal{
		FullName: r.FullName, Email: r.Email, SubjectName: map[bool]string{true: "Child Person"}[r.OnBehalf],
	})
	if err != nil {
		return 0, err
	}
	var id int64
	err = pool.QueryRow(ctx, `
		INSERT INTO requests (reference, type, status, locale, received_at, confirmed_at, closed_at, due_at,
			deadline_rule, deadline_legal_ref, personal, search_index, email_index, on_behalf, relationship,
			access_scope, assignee_id, duplicate_of, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $5)
		RETURNING id`,
		r.Reference, string(r.Type), string(r.Status), string(r.Locale), r.ReceivedAt, nullTime(r.ConfirmedAt),
		nullTime(r.ClosedAt), r.DueAt, r.Rule, r.LegalRef, personal, index, emailIndex, r.OnBehalf,
		relationship, scope, nullID(r.AssigneeID), nullID(r.DuplicateOf)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add request: %w", err)
	}
	return id, nil
}

// AddStaff inserts an agent and returns its id.
func AddStaff(ctx context.Context, pool *pgxpool.Pool, name, email string) (int64, error) {
	var id int64
	err := pool.QueryRow(ctx, `
		INSERT INTO staff (email, name, role, created_at, updated_at)
		VALUES ($1, $2, 'agent', now(), now()) RETURNING id`, email, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add staff: %w", err)
	}
	return id, nil
}

// AddFailedEmail records an acknowledgement of the request whose delivery
// failed.
func AddFailedEmail(ctx context.Context, pool *pgxpool.Pool, requestID int64) error {
	_, err := pool.Exec(ctx, failedEmailSQL(`TRUE`), requestID, requestID)
	if err != nil {
		return fmt.Errorf("add failed email: %w", err)
	}
	return nil
}

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// BenchRows is how many requests a benchmark seeds: RIGHTSDESK_BENCH_ROWS,
// a million unless set (at least 1,000, for quick runs).
func BenchRows(tb testing.TB) int {
	tb.Helper()
	v := os.Getenv("RIGHTSDESK_BENCH_ROWS")
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1000 {
		tb.Fatalf("RIGHTSDESK_BENCH_ROWS=%q: want a number of at least 1000", v)
	}
	return n
}

// testKeys is EncryptionKey parsed; it is a constant that parses.
func testKeys() *keyring.Keyring {
	kr, err := keyring.Parse(EncryptionKey)
	if err != nil {
		panic(err)
	}
	return kr
}
