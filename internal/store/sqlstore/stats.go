package sqlstore

import "database/sql"

// PoolStats returns the connection pools' statistics by pool: "write" and
// "read" on SQLite, "main" on PostgreSQL (one pool serves both).
func (s *Store) PoolStats() map[string]sql.DBStats {
	if s.rdb == s.wdb {
		return map[string]sql.DBStats{"main": s.wdb.Stats()}
	}
	return map[string]sql.DBStats{"write": s.wdb.Stats(), "read": s.rdb.Stats()}
}
