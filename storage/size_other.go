//go:build !unix

package storage

import "os"

// diskSize is the space a file takes on disk; here, its length.
func diskSize(fi os.FileInfo) int64 { return fi.Size() }
