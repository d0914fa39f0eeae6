// Package conformance is the test suite every store backend must pass. It is
// an ordinary package, not a _test one, so that each backend's tests can call
// [RunTests]; the doc comments of package store are the contract it checks.
package conformance

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// RunTests runs the whole suite against the stores newStore returns.
//
// Each call of newStore must return a fresh, empty, migrated store and arrange
// its cleanup on the given t. Every test gets a store of its own, and no two
// tests run in parallel, so a factory may hand out databases of one server.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, c := range categories {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range c.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
			}
		})
	}
}

// A category is a named part of the suite, one per part of the store
// interface. The names are stable so that a backend that cannot support a
// category can be told to skip it by name, with its reason.
type category struct {
	name  string
	tests []test
}

// A test checks one behaviour against a fresh store.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

var categories = []category{
	{"Users", userTests},
	{"Groups", groupTests},
	{"Memberships", membershipTests},
	{"Projects", projectTests},
	{"Grants", grantTests},
	{"Templates", templateTests},
	{"Tokens", tokenTests},
	{"Sessions", sessionTests},
	{"Audit", auditTests},
	{"SyncRuns", syncRunTests},
	{"Settings", settingTests},
	{"SSOConnections", ssoTests},
	{"ChangeLog", changeLogTests},
	{"Transactions", transactionTests},
	{"Concurrency", concurrencyTests},
	{"Snapshot", snapshotTests},
	{"Conditions", condTests},
	{"Text", textTests},
	{"Locks", lockTests},
	{"SignIn", signInTests},
}
