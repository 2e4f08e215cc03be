package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type outcome struct {
	code      int // 0: connection error
	ref       string
	sent, got time.Time
}

type client struct {
	http *http.Client
	tag  string
	seq  atomic.Int64
	mu   sync.Mutex
	outs []outcome
}

func newClient(tag string) *client {
	return &client{
		http: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		tag:  tag,
	}
}

var types = []struct{ typ, extra string }{
	{"access", `"access_scope":"copy"`},
	{"erasure", `"details":"Удалите мой аккаунт"`},
	{"restriction", `"processing":"рассылка новостей"`},
	{"portability", `"details":"Нужна выгрузка оценок в CSV"`},
}

// submit posts one request to base and records what came back.
func (c *client) submit(base string) {
	n := c.seq.Add(1)
	t := types[n%int64(len(types))]
	body := fmt.Sprintf(`{"type":%q,"full_name":"Айгерим Нурланқызы","email":"faults-%s-%d@example.kz","locale":"ru","consent":true,%s}`,
		t.typ, c.tag, n, t.extra)
	o := outcome{sent: time.Now()}
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/requests", strings.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		resp, err = c.http.Do(req)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 8192))
			_ = resp.Body.Close()
			o.code = resp.StatusCode
			var v struct {
				Reference string `json:"reference"`
			}
			if o.code == http.StatusCreated && json.Unmarshal(b, &v) == nil {
				o.ref = v.Reference
			}
		}
	}
	o.got = time.Now()
	c.mu.Lock()
	c.outs = append(c.outs, o)
	c.mu.Unlock()
}

// rate sends rate submissions per second for d, to the base URL target()
// gives for each; it returns when every one has been answered.
func (c *client) rate(rate float64, d time.Duration, target func(i int) string) {
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		wg.Add(1)
		go func() { defer wg.Done(); c.submit(target(i)) }()
	}
	wg.Wait()
}

type tally struct {
	sent, acked, errors5xx, connErr, other int
	refs                                   []string
}

func (c *client) tally() tally {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t tally
	for _, o := range c.outs {
		t.sent++
		switch {
		case o.code == http.StatusCreated:
			t.acked++
			t.refs = append(t.refs, o.ref)
		case o.code == 0:
			t.connErr++
		case o.code >= 500:
			t.errors5xx++
		default:
			t.other++
		}
	}
	return t
}

func (t tally) subs() string {
	s := fmt.Sprintf("%d / %d", t.sent, t.acked)
	var extra []string
	if t.errors5xx > 0 {
		extra = append(extra, fmt.Sprintf("%d 5xx", t.errors5xx))
	}
	if t.connErr > 0 {
		extra = append(extra, fmt.Sprintf("%d conn. errors", t.connErr))
	}
	if t.other > 0 {
		extra = append(extra, fmt.Sprintf("%d other", t.other))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// missing returns how many acknowledged references are not in the database.
func missing(dbURL string, refs []string) (found, miss int, err error) {
	found, err = queryInt(dbURL, `SELECT count(*) FROM requests WHERE reference = ANY($1)`, refs)
	return found, len(refs) - found, err
}
