// Package importer loads an existing identity data set — users, groups,
// memberships, projects, global and project permissions, permission
// templates — into Gatehouse, from a file ([ReadFile]) or from a running
// SonarQube through its Web API ([SonarQube]).
//
// A [Writer] applies a [DataSet] through the state's bulk path in batches
// of at most [state.MaxBulkItems], every write audited under the import's
// actor ("import:file", "import:sonarqube"). Every step skips what already
// exists, so running an import again after an interruption completes it,
// and running it twice writes nothing the second time. [Writer.Plan] is the
// dry run: what would be written and what is already there.
//
// What cannot be imported is reported instead: passwords (imported users
// have none until an administrator sets one) and token secrets (the
// summary lists the tokens to re-create).
package importer
