package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

type sinkState struct {
	Up       bool           `json:"up"`
	Received int            `json:"received"`
	IDs      map[string]int `json:"ids"`
}

func (d *driver) sinkIDs() (sinkState, error) {
	var s sinkState
	resp, err := http.Get(d.ctl + "/ids") // #nosec G107 -- our loopback sink
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

type sinkArrivals struct {
	Released int64 `json:"released_ns"`
	Arrivals []struct {
		ID string `json:"id"`
		NS int64  `json:"ns"`
	} `json:"arrivals"`
}

// sinkArrivals lists every message the sink received, with its arrival time.
func (d *driver) sinkArrivals() (sinkArrivals, error) {
	var a sinkArrivals
	resp, err := http.Get(d.ctl + "/arrivals") // #nosec G107 -- our loopback sink
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	return a, json.NewDecoder(resp.Body).Decode(&a)
}

func (d *driver) sinkCtl(op string) error {
	resp, err := http.Post(d.ctl+"/"+op, "text/plain", nil) // #nosec G107 -- our loopback sink
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sink %s: %s", op, resp.Status)
	}
	return nil
}

type mailCheck struct {
	expected, received, dups, missing, extra, unsent, dupEvents int
	missingIDs                                                  []string
}

func (m mailCheck) String() string {
	s := fmt.Sprintf("%d / %d / %d", m.expected, m.received, m.dups)
	var extra []string
	if m.missing > 0 {
		extra = append(extra, fmt.Sprintf("%d missing", m.missing))
	}
	if m.extra > 0 {
		extra = append(extra, fmt.Sprintf("%d unknown at sink", m.extra))
	}
	if m.unsent > 0 {
		extra = append(extra, fmt.Sprintf("%d not 'sent' in DB", m.unsent))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

func (d *driver) checkMail(dbURL string) (mailCheck, error) {
	var m mailCheck
	ids, err := queryStrings(dbURL, `SELECT message_id FROM emails`)
	if err != nil {
		return m, err
	}
	m.unsent, err = queryInt(dbURL, `SELECT count(*) FROM emails WHERE state <> 'sent'`)
	if err != nil {
		return m, err
	}
	m.dupEvents, err = queryInt(dbURL, `SELECT count(*) FROM (SELECT 1 FROM emails GROUP BY event_id, kind HAVING count(*) > 1) x`)
	if err != nil {
		return m, err
	}
	s, err := d.sinkIDs()
	if err != nil {
		return m, err
	}
	known := map[string]bool{}
	m.expected = len(ids)
	for _, id := range ids {
		id = strings.Trim(id, "<>")
		known[id] = true
		n := s.IDs[id]
		if n == 0 {
			m.missing++
			m.missingIDs = append(m.missingIDs, id)
			continue
		}
		m.received++
		if n > 1 {
			m.dups += n - 1
		}
	}
	for id := range s.IDs {
		if !known[id] {
			m.extra++
		}
	}
	return m, nil
}

// waitMail waits until every email of the database was received (or timeout).
func (d *driver) waitMail(dbURL string, timeout time.Duration) (mailCheck, time.Duration, error) {
	start := time.Now()
	for {
		m, err := d.checkMail(dbURL)
		if err == nil && m.missing == 0 && m.unsent == 0 && m.expected > 0 {
			return m, time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return m, time.Since(start), err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func fail(name, done string, err error) row {
	return row{name: name, done: done, subs: "-", db: "-", emails: "-", verdict: "FAIL", notes: "driver error: " + err.Error()}
}
