package ui

import (
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (u *UI) auditRoutes() []route {
	return []route{{"GET /audit", adminOnly, u.audit}}
}

type auditData struct {
	Actor, Action, Target, From, To string
	Events                          []identity.AuditEvent
	Pager                           pager
	Error                           string
}

// auditDay reads a date filter (YYYY-MM-DD, UTC); to is inclusive, so its
// bound is the next midnight.
func auditDay(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateOnly, v, time.UTC)
	if err != nil {
		return t, identity.Errorf(identity.ErrInvalid, "Enter dates as YYYY-MM-DD.")
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// audit lists the audit log, newest first, filtered and paged in the
// store. An actor without a kind is a login, as in api/audit/search.
func (u *UI) audit(p *pageCall) error {
	q := p.r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), Target: strings.TrimSpace(q.Get("target")),
		From: q.Get("from"), To: q.Get("to")}
	from, err := auditDay(d.From, false)
	if err == nil {
		var to time.Time
		if to, err = auditDay(d.To, true); err == nil {
			actor := d.Actor
			if actor != "" && !strings.Contains(actor, ":") && actor != "system" {
				actor = "user:" + actor
			}
			pg := pageOf(q)
			var total int
			d.Events, total, err = u.st.Store().ListAudit(p.ctx, store.AuditFilter{Since: from, Until: to, Actor: actor, Action: d.Action, Target: d.Target, Page: pg})
			if err != nil {
				return err
			}
			d.Pager = newPager("/audit", q, pg, total)
		}
	}
	if err != nil {
		_, d.Error = u.message(p.ctx, p.r, err)
	}
	return p.show("audit", "Audit log", d)
}
