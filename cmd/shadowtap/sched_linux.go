//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// setSched sets the CPU scheduling policy (schedPolicyNumber) of every
// thread of the process, keeping each thread's nice value; threads started
// later inherit it from the thread that starts them.
func setSched(policy string) error {
	p, ok := schedPolicyNumber(policy)
	if !ok {
		return fmt.Errorf("scheduling policy %q: %w", policy, errBadSched)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("setting scheduling policy %s: listing threads: %w", policy, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr, err := unix.SchedGetAttr(tid, 0)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			return fmt.Errorf("setting scheduling policy %s: thread %d: %w", policy, tid, err)
		}
		attr.Policy, attr.Flags, attr.Priority = p, 0, 0
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("setting scheduling policy %s: thread %d: %w", policy, tid, err)
		}
	}
	return nil
}

// schedPolicyNumber maps the configuration's policy names to the kernel's.
func schedPolicyNumber(policy string) (uint32, bool) {
	switch policy {
	case "normal":
		return unix.SCHED_NORMAL, true
	case "batch":
		return unix.SCHED_BATCH, true
	case "idle":
		return unix.SCHED_IDLE, true
	}
	return 0, false
}
