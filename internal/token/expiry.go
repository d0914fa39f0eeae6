package token

import (
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// ExpiryPresetDays are the expiry presets every token form and API offers:
// 30, 90 and 365 days from now.
var ExpiryPresetDays = []int{30, 90, 365}

// Errors of [ExpiryDate]; both are an identity.ErrInvalid. Each adapter
// says them in its own words (the Web API in SonarQube's).
var (
	ErrExpiryFormat   = identity.Errorf(identity.ErrInvalid, "the expiry date is not a date in the format YYYY-MM-DD")
	ErrExpiryTooEarly = identity.Errorf(identity.ErrInvalid, "the expiry date must be tomorrow or later")
)

// EarliestExpiry is the earliest expiry date a token may be given at now:
// tomorrow, 00:00 UTC.
func EarliestExpiry(now time.Time) time.Time {
	n := now.UTC()
	return time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, time.UTC)
}

// ExpiryDate reads day (YYYY-MM-DD) as a token's expiry: the token stops
// working at 00:00 UTC that day, which must be [EarliestExpiry] or later.
func ExpiryDate(day string, now time.Time) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, day, time.UTC)
	if err != nil {
		return time.Time{}, ErrExpiryFormat
	}
	if d.Before(EarliestExpiry(now)) {
		return time.Time{}, ErrExpiryTooEarly
	}
	return d, nil
}

// PresetExpiry is the expiry of a preset of days from now; ok is false when
// days is not one of [ExpiryPresetDays].
func PresetExpiry(days int, now time.Time) (at time.Time, ok bool) {
	if !slices.Contains(ExpiryPresetDays, days) {
		return time.Time{}, false
	}
	return now.AddDate(0, 0, days), true
}
