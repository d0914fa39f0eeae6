package sqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// condTable says which listing a store.Cond is translated for.
type condTable uint8

const (
	condUsers condTable = iota
	condGroups
)

// fieldKind is how a field compares.
type fieldKind uint8

const (
	kindText fieldKind = iota
	kindInt
	kindBool
	kindTime
	kindMember // a membership subquery
)

type condField struct {
	col  string
	kind fieldKind
}

var condFields = [...]map[store.Field]condField{
	condUsers: {
		store.FieldID:         {"id", kindInt},
		store.FieldLogin:      {"login", kindText},
		store.FieldName:       {"name", kindText},
		store.FieldEmail:      {"email", kindText},
		store.FieldExternalID: {"external_id", kindText},
		store.FieldActive:     {"active", kindBool},
		store.FieldCreated:    {"created_at", kindTime},
		store.FieldUpdated:    {"updated_at", kindTime},
		store.FieldGroup:      {"id IN (SELECT user_id FROM group_members WHERE group_id = ?)", kindMember},
	},
	condGroups: {
		store.FieldID:         {"id", kindInt},
		store.FieldName:       {"name", kindText},
		store.FieldExternalID: {"external_id", kindText},
		store.FieldCreated:    {"created_at", kindTime},
		store.FieldUpdated:    {"updated_at", kindTime},
		store.FieldMember:     {"id IN (SELECT group_id FROM group_members WHERE user_id = ?)", kindMember},
	},
}

// presentMember is the pr condition of the membership fields.
var presentMember = [...]string{
	condUsers:  "id IN (SELECT user_id FROM group_members)",
	condGroups: "id IN (SELECT group_id FROM group_members)",
}

// addCond adds the translation of c to w; an untranslatable condition is an
// identity.ErrInvalid error, reported when the listing runs.
func (w *filter) addCond(f *flavor, c *store.Cond, t condTable) {
	if c == nil {
		return
	}
	var args []any
	q, err := f.cond(*c, t, &args)
	if err != nil {
		w.err = err
		return
	}
	w.add(q, args...)
}

var cmpOps = map[store.CondOp]string{store.OpEq: "=", store.OpNe: "<>", store.OpGt: ">", store.OpGe: ">=", store.OpLt: "<", store.OpLe: "<="}

func (f *flavor) cond(c store.Cond, t condTable, args *[]any) (string, error) {
	switch c.Op {
	case store.OpAnd, store.OpOr:
		if len(c.Sub) == 0 {
			if c.Op == store.OpAnd {
				return "1 = 1", nil
			}
			return "1 = 0", nil
		}
		parts := make([]string, len(c.Sub))
		for i, s := range c.Sub {
			q, err := f.cond(s, t, args)
			if err != nil {
				return "", err
			}
			parts[i] = "(" + q + ")"
		}
		sep := " AND "
		if c.Op == store.OpOr {
			sep = " OR "
		}
		return strings.Join(parts, sep), nil
	case store.OpNot:
		if len(c.Sub) != 1 {
			return "", identity.Errorf(identity.ErrInvalid, "not takes one condition")
		}
		q, err := f.cond(c.Sub[0], t, args)
		if err != nil {
			return "", err
		}
		return "NOT (" + q + ")", nil
	}
	fd, ok := condFields[t][c.Field]
	if !ok {
		return "", identity.Errorf(identity.ErrInvalid, "field %s cannot be compared here", c.Field)
	}
	if c.Op == store.OpPresent {
		switch fd.kind {
		case kindText:
			return fd.col + " <> ''", nil
		case kindMember:
			return presentMember[t], nil
		}
		return "1 = 1", nil
	}
	bad := func() (string, error) {
		return "", identity.Errorf(identity.ErrInvalid, "field %s does not support this comparison with %T", c.Field, c.Value)
	}
	switch fd.kind {
	case kindMember:
		id, ok := c.Value.(int64)
		if !ok || c.Op != store.OpEq {
			return bad()
		}
		*args = append(*args, id)
		return fd.col, nil
	case kindInt:
		id, ok := c.Value.(int64)
		op, cmp := cmpOps[c.Op]
		if !ok || !cmp {
			return bad()
		}
		*args = append(*args, id)
		return fd.col + " " + op + " ?", nil
	case kindBool:
		b, ok := c.Value.(bool)
		if !ok || c.Op != store.OpEq && c.Op != store.OpNe {
			return bad()
		}
		*args = append(*args, b)
		return fd.col + " " + cmpOps[c.Op] + " ?", nil
	case kindTime:
		at, ok := c.Value.(time.Time)
		op, cmp := cmpOps[c.Op]
		if !ok || !cmp {
			return bad()
		}
		*args = append(*args, micros(at))
		return fd.col + " " + op + " ?", nil
	}
	s, ok := c.Value.(string)
	if !ok {
		return bad()
	}
	col := fd.col
	if c.Fold {
		col, s = "LOWER("+col+")", asciiLower(s)
	}
	if op, cmp := cmpOps[c.Op]; cmp {
		*args = append(*args, s)
		return col + " " + op + " ?", nil
	}
	if c.Fold {
		// LOWER() on both sides makes LIKE case-insensitive in both
		// dialects (SQLite's LIKE already folds ASCII, PostgreSQL's does not).
		pat := likeEscaper.Replace(s)
		switch c.Op {
		case store.OpContains:
			pat = "%" + pat + "%"
		case store.OpStartsWith:
			pat += "%"
		case store.OpEndsWith:
			pat = "%" + pat
		default:
			return bad()
		}
		*args = append(*args, pat)
		return col + ` LIKE ? ESCAPE '\'`, nil
	}
	// Case-sensitive substring tests avoid LIKE, which folds ASCII in SQLite.
	switch c.Op {
	case store.OpContains:
		*args = append(*args, s)
		if f.postgres {
			return "strpos(" + col + ", ?) > 0", nil
		}
		return "instr(" + col + ", ?) > 0", nil
	case store.OpStartsWith:
		*args = append(*args, s, s)
		return "substr(" + col + ", 1, length(CAST(? AS TEXT))) = ?", nil
	case store.OpEndsWith:
		*args = append(*args, s, s, s)
		return fmt.Sprintf("(length(%[1]s) >= length(CAST(? AS TEXT)) AND substr(%[1]s, length(%[1]s) - length(CAST(? AS TEXT)) + 1) = ?)", col), nil
	}
	return bad()
}
