package saml

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMemoryReplayCache(t *testing.T) {
	clock := newTestClock()
	c := NewMemoryReplayCache(2, clock.Now)
	ctx := context.Background()
	remember := func(id string, ttl time.Duration) (bool, error) {
		return c.Remember(ctx, id, clock.Now().Add(ttl))
	}
	steps := []struct {
		name    string
		id      string
		ttl     time.Duration
		advance time.Duration // before the step
		fresh   bool
		err     bool
	}{
		{name: "new id", id: "a", ttl: time.Minute, fresh: true},
		{name: "same id", id: "a", ttl: time.Minute},
		{name: "second id", id: "b", ttl: 2 * time.Minute, fresh: true},
		{name: "full, nothing expired", id: "c", ttl: time.Minute, err: true},
		{name: "a expired: c fits", id: "c", ttl: time.Minute, advance: 61 * time.Second, fresh: true},
		{name: "b still remembered", id: "b", ttl: time.Minute},
		{name: "a may be remembered again once expired", id: "a", ttl: time.Minute, advance: 2 * time.Minute, fresh: true},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		fresh, err := remember(s.id, s.ttl)
		if (err != nil) != s.err || fresh != s.fresh {
			t.Fatalf("%s: Remember(%q) = %v, %v; want fresh %v, error %v", s.name, s.id, fresh, err, s.fresh, s.err)
		}
	}
}

type failingCache struct{}

func (failingCache) Remember(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("database is down")
}

func TestReplayCacheFailureRefuses(t *testing.T) {
	ts := newTestSP(t, func(c *Config) { c.Replay = failingCache{} })
	req, cookies := ts.start("")
	e := wantCode(t, ts.post(ts.idp.respond(req, opts{}), cookies).err, ErrUnavailable)
	if !errors.Is(e, e.Err) || e.Err == nil {
		t.Fatalf("cause not kept: %+v", e)
	}
}

// TestReplayDeadline: an assertion id is remembered at least as long as
// crewjam/saml would accept the assertion.
func TestReplayDeadline(t *testing.T) {
	var got time.Time
	rec := recordingCache{onRemember: func(exp time.Time) { got = exp }}
	ts2 := newTestSP(t, func(c *Config) { c.Replay = rec })
	req, cookies := ts2.start("")
	if res := ts2.post(ts2.idp.respond(req, opts{}), cookies); res.err != nil {
		t.Fatal(res.err)
	}
	if min := ts2.clock.Now().Add(DefaultClockSkew); got.Before(min) {
		t.Fatalf("remembered until %s, want at least %s", got, min)
	}
}

type recordingCache struct{ onRemember func(time.Time) }

func (c recordingCache) Remember(_ context.Context, _ string, exp time.Time) (bool, error) {
	c.onRemember(exp)
	return true, nil
}
