//go:build unix

package sqlstore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// tryFileLock takes an exclusive flock(2) on path, creating the file. The
// lock belongs to the open file, so two stores on one database contend even
// in one process, and the kernel drops it when the process dies. The file
// stays behind: removing it would let a second process lock a new file of
// the same name while the first still holds the old one.
func tryFileLock(path string) (release func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("flock %s: %w", path, err)
	}
	// Closing the file releases the lock.
	return func() { _ = f.Close() }, true, nil
}
