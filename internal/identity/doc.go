// Package identity holds Gatehouse's domain model: users, groups, memberships,
// projects, permissions, permission templates, tokens, audit events and sync
// runs, together with the rules every write must respect (login and project
// key formats, built-in groups, managed sources) and the error kinds that the
// API layers map to HTTP statuses.
//
// The package has no dependencies on storage or transport; the store, the
// authorization engine and the API adapters all speak in these types.
package identity
