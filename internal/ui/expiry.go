package ui

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/token"
)

// expiryChoice is the expiry radio group of a token form: a preset of 30,
// 90 or 365 days, a date, or none.
type expiryChoice struct {
	Choice string // "30", "90", "365", "date", "never"
	Date   string // YYYY-MM-DD with Choice "date"
	Min    string // the earliest date accepted: tomorrow
}

func newExpiry(now time.Time, choice string) expiryChoice {
	return expiryChoice{Choice: choice, Min: token.EarliestExpiry(now).Format(time.DateOnly)}
}

// readExpiry reads the expiry fields of a token form: a preset, or a date
// (the day the token stops working, at 00:00 UTC, tomorrow or later).
func readExpiry(f url.Values, now time.Time) (expiryChoice, time.Time, error) {
	e := newExpiry(now, f.Get("expiry"))
	e.Date = strings.TrimSpace(f.Get("expirationDate"))
	switch e.Choice {
	case "date":
		d, err := token.ExpiryDate(e.Date, now)
		switch {
		case errors.Is(err, token.ErrExpiryFormat):
			return e, time.Time{}, identity.Errorf(identity.ErrInvalid, "Enter the expiry date as YYYY-MM-DD.")
		case errors.Is(err, token.ErrExpiryTooEarly):
			return e, time.Time{}, identity.Errorf(identity.ErrInvalid, "The expiry date must be in the future: the earliest is %s.", e.Min)
		}
		return e, d, nil
	case "never":
		return e, time.Time{}, nil
	}
	if days, err := strconv.Atoi(e.Choice); err == nil {
		if at, ok := token.PresetExpiry(days, now); ok {
			return e, at, nil
		}
	}
	return e, time.Time{}, identity.Errorf(identity.ErrInvalid, "Choose when the token expires.")
}
