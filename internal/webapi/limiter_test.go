package webapi

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoginLimiter(t *testing.T) {
	clock := &atomic.Int64{}
	clock.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	cases := []struct {
		name    string
		run     func(l *loginLimiter)
		login   string
		ip      string
		blocked bool
	}{
		{"fresh", func(*loginLimiter) {}, "bob", "1.2.3.4", false},
		{"per login", func(l *loginLimiter) {
			for i := range maxFailsPerLogin {
				l.fail("bob", fmt.Sprintf("10.0.0.%d", i)) // spread over addresses
			}
		}, "bob", "9.9.9.9", true},
		{"other login unaffected", func(l *loginLimiter) {
			for range maxFailsPerLogin {
				l.fail("bob", "1.2.3.4")
			}
		}, "carol", "5.6.7.8", false},
		{"per address", func(l *loginLimiter) {
			for i := range maxFailsPerIP {
				l.fail(fmt.Sprintf("user%d", i), "1.2.3.4") // spread over logins
			}
		}, "someone-else", "1.2.3.4", true},
		{"window passes", func(l *loginLimiter) {
			for range maxFailsPerLogin {
				l.fail("bob", "1.2.3.4")
			}
			clock.Add(int64(loginWindow))
		}, "bob", "1.2.3.4", false},
		{"success clears the login", func(l *loginLimiter) {
			for range maxFailsPerLogin - 1 {
				l.fail("bob", "1.2.3.4")
			}
			l.succeed("bob")
			l.fail("bob", "1.2.3.4")
		}, "bob", "1.2.3.4", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoginLimiter(now)
			tc.run(l)
			wait := l.blocked(tc.login, tc.ip)
			if (wait > 0) != tc.blocked {
				t.Fatalf("blocked = %v, want %v", wait, tc.blocked)
			}
			if wait > loginWindow {
				t.Fatalf("wait %v longer than the window", wait)
			}
		})
	}
}

// TestLoginLimiterIsBounded sprays more logins than the limiter tracks: a
// login already under attack stays tracked, and memory stays bounded.
func TestLoginLimiterIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	l := newLoginLimiter(func() time.Time { return now })
	for range maxFailsPerLogin {
		l.fail("victim", "10.9.9.9")
	}
	for i := range maxTrackedKeys + 10 {
		l.fail(fmt.Sprintf("spray%d", i), fmt.Sprintf("ip%d", i))
	}
	if len(l.login) > maxTrackedKeys || len(l.ip) > maxTrackedKeys {
		t.Fatalf("tracking %d logins, %d addresses", len(l.login), len(l.ip))
	}
	if l.blocked("victim", "10.1.1.1") == 0 {
		t.Fatal("the targeted login was forgotten by the spray")
	}
}
