package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Schema is the key layout version this build writes (see the package doc).
const Schema = 1

// schemaKey holds the schema version, a uvarint.
var schemaKey = []byte("m/schema")

// migration moves a store from schema from to schema from+1 inside one
// write batch.
type migration struct {
	from uint64
	name string
	run  func(db *DB) error
}

// migrations is the table Open walks: each step takes the store one version
// up. A store without a schema key is version 0.
var migrations = []migration{
	{0, "v0 → v1: alerts from alert/ to a/, development engine state under state/ dropped", migrateV0},
}

// schema reads the stored version (0 when absent).
func (db *DB) schema() (uint64, error) {
	var v uint64
	err := db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(schemaKey)
		if err != nil {
			return err
		}
		return it.Value(func(b []byte) error {
			x, n := binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("corrupt schema version %x", b)
			}
			v = x
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	return v, err
}

func (db *DB) setSchema(v uint64) error {
	return db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set(bytes.Clone(schemaKey), binary.AppendUvarint(nil, v))
	})
}

// empty reports a store holding no keys at all.
func (db *DB) empty() bool {
	empty := true
	db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	return empty
}

// migrate brings the store to Schema by running table's steps in turn.
func (db *DB) migrate(table []migration) error {
	v, err := db.schema()
	if err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if v > Schema {
		return fmt.Errorf("store %s has schema %d, this build knows %d: %w", db.dir, v, Schema, ErrSchemaTooNew)
	}
	if v == Schema {
		return nil
	}
	if db.opts.ReadOnly {
		if v == 0 && db.empty() {
			return nil
		}
		return fmt.Errorf("store %s has schema %d and needs migrating to %d: open it once read-write", db.dir, v, Schema)
	}
	if v == 0 && db.empty() {
		return db.setSchema(Schema)
	}
	for v < Schema {
		var step *migration
		for i := range table {
			if table[i].from == v {
				step = &table[i]
			}
		}
		if step == nil {
			return fmt.Errorf("no migration from schema %d", v)
		}
		db.log.Info().Uint64("from", v).Str("step", step.name).Msg("migrating store")
		if err := step.run(db); err != nil {
			return fmt.Errorf("migrating store from schema %d: %w", v, err)
		}
		v++
		if err := db.setSchema(v); err != nil {
			return fmt.Errorf("recording schema %d: %w", v, err)
		}
	}
	return nil
}

// migrateV0 converts development stores written before the schema key
// existed: alerts lived under "alert/<id>" (now "a/<id>", TTL kept) and the
// engine state under "state/" in an encoding no longer read (dropped: the
// engine relearns it).
func migrateV0(db *DB) error {
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			switch {
			case bytes.HasPrefix(k, []byte("alert/")):
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				e := badger.NewEntry(append([]byte("a/"), k[len("alert/"):]...), v)
				if exp := item.ExpiresAt(); exp > 0 {
					e.ExpiresAt = exp
				}
				if err := wb.SetEntry(e); err != nil {
					return err
				}
				if err := wb.Delete(k); err != nil {
					return err
				}
			case bytes.HasPrefix(k, []byte("state/")):
				if err := wb.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}
