package main

import (
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// TestPushWhileAddWaits: with the queue full, add waits for the consumer
// holding the batch lock; the consumer's push must not wait for that lock
// (it did, and the daemon hung under saturation).
func TestPushWhileAddWaits(t *testing.T) {
	f := newTxBatcher()
	for range feedQueue {
		f.ch <- nil
	}
	added := make(chan struct{})
	go func() {
		for range feedBatch {
			f.add(&reassembly.Transaction{Prepared: struct{}{}})
		}
		close(added)
	}()
	// Wait until add holds the lock, blocked on the full queue.
	for f.mu.TryLock() {
		f.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	pushed := make(chan struct{})
	go func() { f.push(); close(pushed) }()
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		t.Fatal("push waited 10 s for add, which waits for push's caller to read the queue")
	}
	<-f.ch // the consumer makes room
	<-added
}
