package storage

import (
	"fmt"
	"io"
)

// Backup writes a full, consistent copy of the store to w in badger's
// backup format (protobuf-framed key-value lists, TTLs kept). The store
// stays usable meanwhile.
func (db *DB) Backup(w io.Writer) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if _, err := db.bdb.Backup(w, 0); err != nil {
		return fmt.Errorf("backing up store: %w", err)
	}
	return nil
}

// Restore loads a backup written by Backup into the store, over what it
// holds (keys present in both take the backup's value), and migrates it
// to the current schema.
func (db *DB) Restore(r io.Reader) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.bdb.Load(r, 256); err != nil {
		return fmt.Errorf("restoring store: %w", err)
	}
	if err := db.migrate(migrations); err != nil {
		return err
	}
	db.measure()
	return nil
}
