package webapi

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (a *API) auditRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/audit/search", Access: admin, Out: obj{"paging": paging{}, "events": []auditEventJSON{}}, Handle: a.auditSearch,
			Params: append([]Param{
				{Name: "from", MaxLen: 30, Desc: "Events at or after this time: a datetime (2006-01-02T15:04:05+0000) or a date (from its midnight UTC)."},
				{Name: "to", MaxLen: 30, Desc: "Events before this time: a datetime (exclusive) or a date (up to the end of that day, UTC)."},
				{Name: "actor", MaxLen: 300, Desc: "Exact actor, e.g. user:alice, \"user:alice (token:7)\", token:12, connector:scim or system; a bare login means user:<login>."},
				{Name: "target", MaxLen: 500, Desc: "Exact target, e.g. group:devs, project:my-app or token:12."},
				{Name: "action", MaxLen: 100, Desc: "Exact action, e.g. token.generate."},
			}, pagingParams(100, 500)...),
			Summary: "Search the audit log, newest first: {paging, events:[{id, time, actor, action, target, before?, after?, requestId, clientAddress}]}; before and after are JSON objects and never hold secrets."},
	}
}

// auditEventJSON is one audit event as the API shows it.
type auditEventJSON struct {
	ID        string          `json:"id"`
	Time      string          `json:"time"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
	RequestID string          `json:"requestId"`
	// ClientAddress is the client's address (behind trusted proxies, the
	// client they name); empty for the server's own work.
	ClientAddress string `json:"clientAddress"`
}

// auditTime parses a from/to bound; a date-only "to" covers its whole day.
func auditTime(name, v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(sonarTime, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation(sonarDate, v, time.UTC)
	if err != nil {
		return time.Time{}, badRequest("The '" + name + "' parameter must be a datetime (2006-01-02T15:04:05+0000) or a date (2006-01-02), got '" + v + "'")
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// auditJSON returns a stored before/after value as JSON, or nothing when it
// is empty or (in an old row) not valid JSON.
func auditJSON(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return nil
	}
	return json.RawMessage(s)
}

func (a *API) auditSearch(c *call) (any, error) {
	from, err := auditTime("from", c.str("from"), false)
	if err != nil {
		return nil, err
	}
	to, err := auditTime("to", c.str("to"), true)
	if err != nil {
		return nil, err
	}
	actor := c.str("actor")
	if actor != "" && !strings.Contains(actor, ":") && actor != "system" {
		actor = "user:" + actor
	}
	p, ps := c.page()
	evs, total, err := a.st.Store().ListAudit(c.ctx, store.AuditFilter{
		Since: from, Until: to, Actor: actor, Target: c.str("target"), Action: c.str("action"),
		Page: store.Page{Number: p, Size: ps},
	})
	if err != nil {
		return nil, err
	}
	out := make([]auditEventJSON, len(evs))
	for i, e := range evs {
		out[i] = auditEventJSON{
			ID: idString(e.ID), Time: formatTime(e.Time), Actor: e.Actor, Action: e.Action, Target: e.Target,
			Before: auditJSON(e.Before), After: auditJSON(e.After), RequestID: e.RequestID, ClientAddress: e.ClientAddress,
		}
	}
	return map[string]any{"paging": paging{PageIndex: p, PageSize: ps, Total: total}, "events": out}, nil
}
