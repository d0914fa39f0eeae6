// Package webapi serves Gatehouse's Web API: SonarQube-compatible endpoints
// for users, groups, permissions, templates, projects and tokens, and
// Gatehouse's own endpoints (organization tokens, authz check and explain,
// audit, settings) in the same style.
//
// Every route is declared once in a [Route] table with its parameters; the
// table drives method checks, parameter validation, authentication levels,
// the OpenAPI document and metrics, so handlers hold only their own logic.
// Domain errors are mapped to SonarQube's error shape in one place
// ([writeError]).
package webapi
