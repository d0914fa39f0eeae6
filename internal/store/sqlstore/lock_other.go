//go:build !unix

package sqlstore

// tryFileLock has no file lock to take outside Unix: the lock then excludes
// holders in this process only (see Store.TryLock), which is enough for
// Gatehouse's one-process SQLite deployments.
func tryFileLock(string) (release func(), ok bool, err error) {
	return func() {}, true, nil
}
