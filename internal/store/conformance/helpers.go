package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// t0 is the reference time of the fixtures. It carries microseconds and no
// nanoseconds, so that no backend has to round it.
var t0 = time.Date(2025, time.March, 14, 9, 26, 53, 589793000, time.UTC)

// at returns t0 moved by d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// hashOf returns the SHA-256 of secret, the way tokens are stored.
func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// write runs fn in a transaction and stops the test if it does not commit.
func write(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Tx(t.Context(), fn); err != nil {
		t.Fatalf("transaction failed: %v", err)
	}
}

// mustCreate stores v with create, one of the Create methods of [store.Tx],
// in a transaction of its own and returns the stored object.
func mustCreate[T any](t *testing.T, s store.Store, v T, create func(store.Tx, context.Context, T) (T, error)) T {
	t.Helper()
	return createAll(t, s, []T{v}, create)[0]
}

// tryCreate is mustCreate for a write that may fail: it returns the error of
// the transaction.
func tryCreate[T any](t *testing.T, s store.Store, v T, create func(store.Tx, context.Context, T) (T, error)) error {
	return s.Tx(t.Context(), func(tx store.Tx) error {
		_, err := create(tx, t.Context(), v)
		return err
	})
}

// mustUpdate writes v with update, one of the Update methods of [store.Tx], in
// a transaction of its own.
func mustUpdate[T any](t *testing.T, s store.Store, v T, update func(store.Tx, context.Context, T) error) {
	t.Helper()
	write(t, s, func(tx store.Tx) error { return update(tx, t.Context(), v) })
}

// tryUpdate is mustUpdate for a write that may fail.
func tryUpdate[T any](t *testing.T, s store.Store, v T, update func(store.Tx, context.Context, T) error) error {
	return s.Tx(t.Context(), func(tx store.Tx) error { return update(tx, t.Context(), v) })
}

// createAll stores every item with create in one transaction and returns
// the stored objects in the same order.
func createAll[T any](t *testing.T, s store.Store, items []T, create func(store.Tx, context.Context, T) (T, error)) []T {
	t.Helper()
	out := make([]T, 0, len(items))
	write(t, s, func(tx store.Tx) error {
		for _, it := range items {
			created, err := create(tx, t.Context(), it)
			if err != nil {
				return err
			}
			out = append(out, created)
		}
		return nil
	})
	return out
}

// newUser creates an active local user whose name is its login.
func newUser(t *testing.T, s store.Store, login string) identity.User {
	t.Helper()
	return mustCreate(t, s, identity.User{Login: login, Name: login, Source: identity.SourceLocal, Active: true}, store.Tx.CreateUser)
}

// newGroup creates a local group.
func newGroup(t *testing.T, s store.Store, name string) identity.Group {
	t.Helper()
	return mustCreate(t, s, identity.Group{Name: name, Source: identity.SourceLocal}, store.Tx.CreateGroup)
}

// newProject creates a local project whose name is its key.
func newProject(t *testing.T, s store.Store, key string, v identity.Visibility) identity.Project {
	t.Helper()
	return mustCreate(t, s, identity.Project{Key: key, Name: key, Visibility: v, Source: identity.SourceLocal}, store.Tx.CreateProject)
}

// addMembers adds memberships in one transaction.
func addMembers(t *testing.T, s store.Store, ms ...identity.Membership) {
	t.Helper()
	write(t, s, func(tx store.Tx) error {
		for _, m := range ms {
			if _, err := tx.AddMember(t.Context(), m.UserID, m.GroupID); err != nil {
				return err
			}
		}
		return nil
	})
}

// addGrants adds grants in one transaction.
func addGrants(t *testing.T, s store.Store, grants ...identity.Grant) {
	t.Helper()
	write(t, s, func(tx store.Tx) error {
		for _, g := range grants {
			if _, err := tx.AddGrant(t.Context(), g); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkTwice runs op twice, each time in a transaction of its own, and wants
// it to report a change (a row added or removed) the first time only: the
// second call finds the work done.
func checkTwice(t *testing.T, what string, s store.Store, op func(tx store.Tx) (bool, error)) {
	t.Helper()
	for i, want := range []bool{true, false} {
		var changed bool
		write(t, s, func(tx store.Tx) error {
			var err error
			changed, err = op(tx)
			return err
		})
		if changed != want {
			t.Errorf("%s call %d reported %v, want %v", what, i+1, changed, want)
		}
	}
}

// noErr stops the test when err is not nil.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErrIs fails the test unless err wraps kind.
func wantErrIs(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: got error %v, want one wrapping %q", what, err, kind)
	}
}

// A missingCall is a read or write of a row that does not exist.
type missingCall struct {
	name string
	call func() error
}

// checkNotFound runs each call as a subtest and wants identity.ErrNotFound
// from it.
func checkNotFound(t *testing.T, calls []missingCall) {
	t.Helper()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			wantErrIs(t, c.name, c.call(), identity.ErrNotFound)
		})
	}
}

// checkFilled fails the test unless a time the store had to fill in is about
// the moment the test wrote it (start).
func checkFilled(t *testing.T, what string, got, start time.Time) {
	t.Helper()
	// Generous bounds: the database clock may be another machine's.
	if got.Before(start.Add(-5*time.Minute)) || got.After(time.Now().Add(5*time.Minute)) {
		t.Errorf("%s = %v, want it filled in with the current time (about %v)", what, got, start)
	}
}

// assertEqual fails the test when got differs from want, naming the fields.
func assertEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := diff(want, got); d != "" {
		t.Errorf("%s differs:\n%s", what, d)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// diff lists the differences between want and got, one per line, or returns
// "" when they match. Times match when they are the same instant at
// microsecond precision, which is what the store keeps, and a nil slice
// matches an empty one, which the store need not tell apart.
func diff(want, got any) string {
	var b strings.Builder
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	diffValues(&b, w.Type().Name(), w, g)
	return b.String()
}

func diffValues(b *strings.Builder, path string, want, got reflect.Value) {
	switch {
	case want.Type() == timeType:
		w, g := want.Interface().(time.Time), got.Interface().(time.Time)
		if !w.Truncate(time.Microsecond).Equal(g.Truncate(time.Microsecond)) {
			fmt.Fprintf(b, "  %s: got %v, want %v\n", path, g, w)
		}
	case want.Kind() == reflect.Struct:
		for i := range want.NumField() {
			diffValues(b, path+"."+want.Type().Field(i).Name, want.Field(i), got.Field(i))
		}
	case want.Kind() == reflect.Slice && want.Type().Elem().Kind() == reflect.Uint8:
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			fmt.Fprintf(b, "  %s: got %x, want %x\n", path, got.Bytes(), want.Bytes())
		}
	case want.Kind() == reflect.Slice:
		if want.Len() != got.Len() {
			fmt.Fprintf(b, "  %s: got %d elements %+v, want %d %+v\n", path, got.Len(), got, want.Len(), want)
			return
		}
		for i := range want.Len() {
			diffValues(b, fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i))
		}
	default:
		if !reflect.DeepEqual(want.Interface(), got.Interface()) {
			fmt.Fprintf(b, "  %s: got %#v, want %#v\n", path, got.Interface(), want.Interface())
		}
	}
}

// keysOf returns the keys of items, sorted, for comparisons that ignore the
// order of a listing the contract leaves unordered.
func keysOf[T any](items []T, key func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	slices.Sort(out)
	return out
}

// checkKeys fails the test unless the keys of a listing are exactly want, in
// any order.
func checkKeys[T any](t *testing.T, what string, items []T, key func(T) string, want []string) {
	t.Helper()
	got, wantSorted := keysOf(items, key), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, wantSorted) {
		t.Errorf("%s: got %q, want %q", what, got, wantSorted)
	}
}

// A listCase is one filter of a listing and the keys of its matches.
type listCase[F any] struct {
	name   string
	filter F
	want   []string
}

// checkListCases runs each case against list as a subtest: the matches, in
// any order, must be exactly the wanted ones, and the total their number.
func checkListCases[F, T any](t *testing.T, what string, cases []listCase[F], key func(T) string, list func(context.Context, F) ([]T, int, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := list(t.Context(), tc.filter)
			noErr(t, what, err)
			checkKeys(t, what, got, key, tc.want)
			if total != len(tc.want) {
				t.Errorf("%s total = %d, want %d", what, total, len(tc.want))
			}
		})
	}
}

// checkPaging walks a listing whose matches are want (keys, in any order)
// page by page, one page past the end. Every page must report the whole
// total and be as full as the matches allow, and the pages together must hold
// every match exactly once.
func checkPaging[T any](t *testing.T, what string, size int, want []string, key func(T) string, list func(store.Page) ([]T, int, error)) {
	t.Helper()
	var seen []T
	lastPage := (len(want) + size - 1) / size
	for n := 1; n <= lastPage+1; n++ {
		items, total, err := list(store.Page{Number: n, Size: size})
		noErr(t, fmt.Sprintf("%s page %d", what, n), err)
		if total != len(want) {
			t.Errorf("%s page %d: total %d, want %d", what, n, total, len(want))
		}
		if wantLen := max(0, min(size, len(want)-(n-1)*size)); len(items) != wantLen {
			t.Errorf("%s page %d of size %d: got %d items, want %d", what, n, size, len(items), wantLen)
		}
		seen = append(seen, items...)
	}
	checkKeys(t, what+": all pages", seen, key, want)
}

// Keys of the domain objects, for [checkKeys] and [checkPaging].
func userLogin(u identity.User) string     { return u.Login }
func groupName(g identity.Group) string    { return g.Name }
func projectKey(p identity.Project) string { return p.Key }
func tokenName(tok identity.Token) string  { return tok.Name }
