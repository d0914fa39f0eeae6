package token

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

func TestExpiryDate(t *testing.T) {
	// Late in the day in UTC+2: it is still the 10th in UTC.
	now := time.Date(2025, 3, 10, 23, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	cases := []struct {
		name, day string
		want      time.Time
		err       error
	}{
		{"tomorrow", "2025-03-11", time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC), nil},
		{"next year", "2026-01-31", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), nil},
		{"today", "2025-03-10", time.Time{}, ErrExpiryTooEarly},
		{"past", "2024-12-31", time.Time{}, ErrExpiryTooEarly},
		{"not a date", "soon", time.Time{}, ErrExpiryFormat},
		{"day first", "11-03-2025", time.Time{}, ErrExpiryFormat},
		{"no such day", "2025-02-30", time.Time{}, ErrExpiryFormat},
		{"empty", "", time.Time{}, ErrExpiryFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpiryDate(tc.day, now)
			if !errors.Is(err, tc.err) || !got.Equal(tc.want) {
				t.Fatalf("ExpiryDate(%q) = %v, %v; want %v, %v", tc.day, got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, identity.ErrInvalid) {
				t.Fatalf("%v is not an ErrInvalid", err)
			}
		})
	}
	if e := EarliestExpiry(now); !e.Equal(time.Date(2025, 3, 11, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("EarliestExpiry = %v", e)
	}
}

func TestPresetExpiry(t *testing.T) {
	now := time.Date(2025, 1, 31, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		days int
		want time.Time
		ok   bool
	}{
		{30, time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC), true},
		{90, time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC), true},
		{365, time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), true},
		{7, time.Time{}, false},
		{0, time.Time{}, false},
	}
	for _, tc := range cases {
		got, ok := PresetExpiry(tc.days, now)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("PresetExpiry(%d) = %v, %v; want %v, %v", tc.days, got, ok, tc.want, tc.ok)
		}
	}
}
