// Package authz is Gatehouse's authorization engine (SPEC §2). An [Index]
// holds, in memory, everything a decision needs — users and their groups,
// grants, projects and tokens — and is kept in step with the store by the
// coordinator, which applies every committed write to it before the write
// returns. A decision therefore never reads the store and always sees the
// identity state of now.
//
// [Index.Decide] answers "may this principal do this, here?" without
// allocating; [Index.Explain] answers the same question with the chain of
// facts behind the answer, or the missing link.
package authz
