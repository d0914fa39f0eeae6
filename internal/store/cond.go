package store

// Field names a column a [Cond] compares.
type Field string

// Fields of users and groups a Cond may compare. FieldLogin, FieldEmail
// and FieldActive are users' only; FieldMember (a member's user id) is
// groups' only and FieldGroup (a group id the user is a member of) users'
// only. The others apply to both (FieldName is a group's name or a user's
// display name).
const (
	FieldID         Field = "id"
	FieldLogin      Field = "login"
	FieldName       Field = "name"
	FieldEmail      Field = "email"
	FieldExternalID Field = "external_id"
	FieldActive     Field = "active"
	FieldCreated    Field = "created_at"
	FieldUpdated    Field = "updated_at"
	FieldMember     Field = "member"
	FieldGroup      Field = "group"
)

// CondOp is what a [Cond] node does.
type CondOp uint8

// Condition operators. And, Or and Not combine Sub; the others compare
// Field with Value.
const (
	OpAnd CondOp = iota + 1
	OpOr
	OpNot
	OpEq
	OpNe
	OpContains
	OpStartsWith
	OpEndsWith
	OpPresent // a non-empty value (always true for ids, flags and times)
	OpGt
	OpGe
	OpLt
	OpLe
)

// Cond is a condition tree over the fields of a listing, for callers that
// need more than the fixed filters (the SCIM filter language). Value is a
// string for text fields, an int64 for ids, a bool for FieldActive and a
// time.Time for times. Fold compares text case-insensitively (ASCII
// folding, as the listings' own search does). Backends evaluate it where
// the rows are, never by loading every row.
type Cond struct {
	Op    CondOp
	Field Field
	Value any
	Fold  bool
	Sub   []Cond
}
