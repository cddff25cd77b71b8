// Package storage persists detect's state in an embedded badger store.
package storage
