package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var syncRunTests = []test{
	{"CreateUpdateGet", testSyncRunLifecycle},
	{"NotFound", testSyncRunNotFound},
	{"ListBySource", testListSyncRuns},
}

func testSyncRunLifecycle(t *testing.T, s store.Store) {
	ctx := t.Context()
	run := identity.SyncRun{Source: identity.SourceSCIM, Trigger: identity.TriggerManual, Status: identity.SyncPending, StartedAt: at(0)}
	created := mustCreate(t, s, run, store.Tx.CreateSyncRun)
	if created.ID <= 0 {
		t.Fatalf("CreateSyncRun assigned id %d, want > 0", created.ID)
	}
	run.ID = created.ID
	assertEqual(t, "CreateSyncRun result", run, created)
	got, err := s.GetSyncRun(ctx, run.ID)
	noErr(t, "GetSyncRun", err)
	assertEqual(t, "GetSyncRun of a pending run", run, got)

	run.Status = identity.SyncFailed
	run.FinishedAt = at(90 * time.Second)
	run.Counts = identity.SyncCounts{
		UsersCreated: 1, UsersUpdated: 2, UsersDeactivated: 3, GroupsCreated: 4, GroupsUpdated: 5,
		GroupsDeleted: 6, MembershipsAdded: 7, MembershipsRemoved: 8, Projects: 9, PermissionsChanged: 10,
	}
	// Out of alphabetical order: these lists are sequences.
	run.Warnings = []string{"user 'zed' has no e-mail", "group 'all' is empty"}
	run.Errors = []string{"GET /Users: 503 Service Unavailable"}
	mustUpdate(t, s, run, store.Tx.UpdateSyncRun)
	got, err = s.GetSyncRun(ctx, run.ID)
	noErr(t, "GetSyncRun", err)
	assertEqual(t, "GetSyncRun of a finished run", run, got)
}

func testSyncRunNotFound(t *testing.T, s store.Store) {
	run := mustCreate(t, s, identity.SyncRun{Source: identity.SourceLDAP, Trigger: identity.TriggerSchedule, Status: identity.SyncRunning, StartedAt: at(0)}, store.Tx.CreateSyncRun)
	missing := run.ID + 1000
	_, err := s.GetSyncRun(t.Context(), missing)
	wantErrIs(t, "GetSyncRun", err, identity.ErrNotFound)
	run.ID = missing
	err = tryUpdate(t, s, run, store.Tx.UpdateSyncRun)
	wantErrIs(t, "UpdateSyncRun", err, identity.ErrNotFound)
}

func testListSyncRuns(t *testing.T, s store.Store) {
	// Runs an hour apart, r1 the oldest; each is named by its id.
	sources := []identity.Source{identity.SourceSCIM, identity.SourceGitLab, identity.SourceSCIM, identity.SourceLDAP, identity.SourceSCIM, identity.SourceGitLab}
	names := map[int64]string{}
	for i, src := range sources {
		run := mustCreate(t, s, identity.SyncRun{
			Source: src, Trigger: identity.TriggerSchedule, Status: identity.SyncSuccess,
			StartedAt: at(time.Duration(i) * time.Hour), FinishedAt: at(time.Duration(i)*time.Hour + time.Minute),
		}, store.Tx.CreateSyncRun)
		names[run.ID] = fmt.Sprintf("r%d", i+1)
	}
	cases := []struct {
		name      string
		source    identity.Source
		page      store.Page
		want      []string // newest first
		wantTotal int
	}{
		{"one source", identity.SourceSCIM, store.Page{}, []string{"r5", "r3", "r1"}, 3},
		{"all sources", "", store.Page{}, []string{"r6", "r5", "r4", "r3", "r2", "r1"}, 6},
		{"all sources, second page", "", store.Page{Number: 2, Size: 2}, []string{"r4", "r3"}, 6},
		{"latest of a source", identity.SourceGitLab, store.Page{Number: 1, Size: 1}, []string{"r6"}, 2},
		{"source without runs", identity.SourceSSO, store.Page{}, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runs, total, err := s.ListSyncRuns(t.Context(), tc.source, tc.page)
			noErr(t, "ListSyncRuns", err)
			got := make([]string, len(runs))
			for i, r := range runs {
				got[i] = names[r.ID]
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ListSyncRuns = %q, want %q", got, tc.want)
			}
			if total != tc.wantTotal {
				t.Errorf("ListSyncRuns total = %d, want %d", total, tc.wantTotal)
			}
		})
	}
}
