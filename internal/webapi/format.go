package webapi

import (
	"strconv"
	"time"
)

// sonarTime is SonarQube's datetime format: no colon in the offset. Clients
// parse exactly this layout; RFC 3339 breaks them.
const sonarTime = "2006-01-02T15:04:05-0700"

// sonarDate is the date-only format of expirationDate parameters.
const sonarDate = "2006-01-02"

func formatTime(t time.Time) string { return t.UTC().Format(sonarTime) }

// optTime returns nil for a zero time so that JSON omits the field.
func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := formatTime(t)
	return &s
}

func idString(id int64) string { return strconv.FormatInt(id, 10) }

// paging is SonarQube's paging object.
type paging struct {
	PageIndex int `json:"pageIndex"`
	PageSize  int `json:"pageSize"`
	Total     int `json:"total"`
}
