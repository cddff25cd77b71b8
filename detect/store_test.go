package detect

import (
	"errors"
	"testing"
	"time"
)

func TestMemStore(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewMemStore()
	s.Now = func() time.Time { return now }
	err := s.Apply([]Mutation{
		{Key: []byte("a/2"), Value: []byte("two")},
		{Key: []byte("a/1"), Value: []byte("one")},
		{Key: []byte("b/1"), Value: []byte("short"), TTL: time.Minute},
		{Key: []byte("a/3"), Value: []byte("x")},
		{Key: []byte("a/3"), Delete: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("a/1")); err != nil || string(v) != "one" {
		t.Fatalf("Get a/1 = %q, %v", v, err)
	}
	if _, err := s.Get([]byte("a/3")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key: err = %v, want ErrNotFound", err)
	}
	var keys []string
	if err := s.Scan([]byte("a/"), func(k, _ []byte) error { keys = append(keys, string(k)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "a/1" || keys[1] != "a/2" {
		t.Fatalf("scan a/ = %v, want [a/1 a/2]", keys)
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Get([]byte("b/1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired key: err = %v, want ErrNotFound", err)
	}
	stop := errors.New("stop")
	if err := s.Scan(nil, func(k, _ []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("scan error = %v, want the callback's", err)
	}
}
