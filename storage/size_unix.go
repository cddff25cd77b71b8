//go:build unix

package storage

import (
	"os"
	"syscall"
)

// diskSize is the space a file takes on disk: its allocated blocks
// (badger preallocates value logs as sparse files).
func diskSize(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
