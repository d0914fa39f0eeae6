package importer

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0", time.Millisecond},
		{"Wed, 02 Dec 2026 12:00:30 GMT", 30 * time.Second},
		{"Wed, 02 Dec 2026 11:00:00 GMT", time.Millisecond},
		{"soon", 0},
		{"-3", 0},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.header, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s; want %s", tc.header, got, tc.want)
		}
	}
}
