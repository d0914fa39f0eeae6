package conformance

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var auditTests = []test{
	{"Append", testAppendAudit},
	{"AppendMany", testAppendAudits},
	{"ListFilters", testListAuditFilters},
	{"ListPaging", testListAuditPaging},
}

func testAppendAudit(t *testing.T, s store.Store) {
	in := identity.AuditEvent{
		Time: at(0), Actor: "user:alice", Action: "group.add_user", Target: "group:devs",
		Before: `{"members":[]}`, After: `{"members":["bob"]}`, RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e",
		ClientAddress: "2001:db8::17",
	}
	created := mustCreate(t, s, in, store.Tx.AppendAudit)
	if created.ID <= 0 {
		t.Fatalf("AppendAudit assigned id %d, want > 0", created.ID)
	}
	want := in
	want.ID = created.ID
	assertEqual(t, "AppendAudit result", want, created)

	events, total, err := s.ListAudit(t.Context(), store.AuditFilter{})
	noErr(t, "ListAudit", err)
	if total != 1 || len(events) != 1 {
		t.Fatalf("ListAudit returned %d events, total %d; want 1", len(events), total)
	}
	assertEqual(t, "ListAudit", want, events[0])
}

// testAppendAudits: events appended together are stored as given, in
// order (ids ascending), across the statements a long batch takes; a zero
// time becomes the time of the append.
func testAppendAudits(t *testing.T, s store.Store) {
	const n = 1203 // more than two statements' worth
	in := make([]identity.AuditEvent, n)
	for i := range in {
		in[i] = identity.AuditEvent{Time: at(time.Duration(i) * time.Second), Actor: "user:alice", Action: "group.add_user",
			Target: "group:devs", After: `{"login":"u` + strconv.Itoa(i) + `"}`, RequestID: "r" + strconv.Itoa(i), ClientAddress: "192.0.2.1"}
	}
	in[7].Time = time.Time{}
	before := time.Now().Add(-time.Second)
	write(t, s, func(tx store.Tx) error { return tx.AppendAudits(t.Context(), in) })
	write(t, s, func(tx store.Tx) error { return tx.AppendAudits(t.Context(), nil) })
	got, total, err := s.ListAudit(t.Context(), store.AuditFilter{Page: store.Page{Number: 1, Size: n}})
	noErr(t, "ListAudit", err)
	if total != n || len(got) != n {
		t.Fatalf("ListAudit returned %d events, total %d; want %d", len(got), total, n)
	}
	byReq := map[string]identity.AuditEvent{}
	for _, e := range got {
		byReq[e.RequestID] = e
	}
	for i, want := range in {
		e := byReq[want.RequestID]
		if i > 0 && e.ID <= byReq[in[i-1].RequestID].ID {
			t.Fatalf("event %d has id %d, not above event %d's %d", i, e.ID, i-1, byReq[in[i-1].RequestID].ID)
		}
		if i == 7 {
			if e.Time.Before(before) {
				t.Errorf("event with zero time stored at %v, want the time of the append", e.Time)
			}
			continue
		}
		want.ID = e.ID
		assertEqual(t, "event "+want.RequestID, want, e)
	}
}

// seedAudit appends six events a minute apart, out of order, each named by
// its RequestID ("e1" the oldest to "e6" the newest).
func seedAudit(t *testing.T, s store.Store) {
	t.Helper()
	events := map[string]identity.AuditEvent{
		"e1": {Time: at(0), Actor: "user:alice", Action: "group.add_user", Target: "group:devs"},
		"e2": {Time: at(time.Minute), Actor: "user:alice", Action: "group.remove_user", Target: "group:devs"},
		"e3": {Time: at(2 * time.Minute), Actor: "token:12", Action: "token.revoke", Target: "token:12"},
		"e4": {Time: at(3 * time.Minute), Actor: "system", Action: "user.deactivate", Target: "user:bob"},
		"e5": {Time: at(4 * time.Minute), Actor: "connector:scim", Action: "group.add_user", Target: "group:ops"},
		"e6": {Time: at(5 * time.Minute), Actor: "user:alice", Action: "project.create", Target: "project:app"},
	}
	// Newest first means by time, whatever the order of appending.
	write(t, s, func(tx store.Tx) error {
		for _, name := range []string{"e4", "e1", "e6", "e2", "e5", "e3"} {
			e := events[name]
			e.RequestID = name
			if _, err := tx.AppendAudit(t.Context(), e); err != nil {
				return err
			}
		}
		return nil
	})
}

func eventNames(events []identity.AuditEvent) []string {
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.RequestID
	}
	return names
}

func testListAuditFilters(t *testing.T, s store.Store) {
	seedAudit(t, s)
	cases := []struct {
		name   string
		filter store.AuditFilter
		want   []string // newest first
	}{
		{"no filter", store.AuditFilter{}, []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
		{"since is inclusive", store.AuditFilter{Since: at(2 * time.Minute)}, []string{"e6", "e5", "e4", "e3"}},
		{"until is exclusive", store.AuditFilter{Until: at(2 * time.Minute)}, []string{"e2", "e1"}},
		{"since and until", store.AuditFilter{Since: at(time.Minute), Until: at(4 * time.Minute)}, []string{"e4", "e3", "e2"}},
		{"empty interval", store.AuditFilter{Since: at(time.Minute), Until: at(time.Minute)}, nil},
		{"actor", store.AuditFilter{Actor: "user:alice"}, []string{"e6", "e2", "e1"}},
		{"target", store.AuditFilter{Target: "group:devs"}, []string{"e2", "e1"}},
		{"action", store.AuditFilter{Action: "group.add_user"}, []string{"e5", "e1"}},
		{"actor since", store.AuditFilter{Actor: "user:alice", Since: at(time.Minute)}, []string{"e6", "e2"}},
		{"action and target", store.AuditFilter{Action: "group.add_user", Target: "group:ops"}, []string{"e5"}},
		{"no match", store.AuditFilter{Actor: "user:nobody"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events, total, err := s.ListAudit(t.Context(), tc.filter)
			noErr(t, "ListAudit", err)
			if got := eventNames(events); !slices.Equal(got, tc.want) {
				t.Errorf("ListAudit = %q, want %q", got, tc.want)
			}
			if total != len(tc.want) {
				t.Errorf("ListAudit total = %d, want %d", total, len(tc.want))
			}
		})
	}
}

func testListAuditPaging(t *testing.T, s store.Store) {
	seedAudit(t, s)
	cases := []struct {
		name      string
		filter    store.AuditFilter
		want      []string
		wantTotal int
	}{
		{"first page", store.AuditFilter{Page: store.Page{Number: 1, Size: 4}}, []string{"e6", "e5", "e4", "e3"}, 6},
		{"last page", store.AuditFilter{Page: store.Page{Number: 2, Size: 4}}, []string{"e2", "e1"}, 6},
		{"past the end", store.AuditFilter{Page: store.Page{Number: 3, Size: 4}}, nil, 6},
		{"filtered page", store.AuditFilter{Actor: "user:alice", Page: store.Page{Number: 2, Size: 2}}, []string{"e1"}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events, total, err := s.ListAudit(t.Context(), tc.filter)
			noErr(t, "ListAudit", err)
			if got := eventNames(events); !slices.Equal(got, tc.want) {
				t.Errorf("ListAudit = %q, want %q", got, tc.want)
			}
			if total != tc.wantTotal {
				t.Errorf("ListAudit total = %d, want %d", total, tc.wantTotal)
			}
		})
	}
}
