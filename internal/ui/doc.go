// Package ui is Gatehouse's admin web UI: server-rendered pages
// (html/template from an embedded file system, one stylesheet, a small
// hand-written script and no build step) served by the same binary as the
// Web API.
//
// The UI is an adapter beside [webapi] and scim: it signs browsers in with
// the Web API's session cookie ([Sessions]), reads through the state's store
// and index, and makes every change through [state.State], so the rules,
// the audit log and the permission model are those of the Web API.
// Administrative pages need the Administer System permission, decided by
// the same index as the API's; every form carries the session's CSRF
// token; the Content-Security-Policy allows no inline script.
package ui
