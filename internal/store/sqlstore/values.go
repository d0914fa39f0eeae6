package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// now is the current time as the store keeps it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// micros encodes a time; the zero time is NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros decodes a time; NULL and 0 are the zero time.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// normTime returns t as it reads back from the store.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	if u := t.UnixMicro(); u != 0 {
		return time.UnixMicro(u).UTC()
	}
	return time.Time{}
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time, n time.Time) time.Time {
	if t.IsZero() {
		return n
	}
	return normTime(t)
}

// encodeList encodes a list as JSON text; empty lists are "[]".
func encodeList[T ~string](vs []T) (string, error) {
	if len(vs) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return "", fmt.Errorf("encode list: %w", err)
	}
	return string(b), nil
}

// decodeList decodes JSON text; empty lists read back as nil.
func decodeList[T ~string](s string) ([]T, error) {
	if s == "" || s == "[]" || s == "null" {
		return nil, nil
	}
	var vs []T
	if err := json.Unmarshal([]byte(s), &vs); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	return vs, nil
}

// normList returns vs as it reads back from the store.
func normList[T ~string](vs []T) []T {
	if len(vs) == 0 {
		return nil
	}
	return vs
}

// blob encodes bytes; empty is NULL.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// normBlob returns b as it reads back from the store.
func normBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
