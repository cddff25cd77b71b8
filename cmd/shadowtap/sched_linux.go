//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// setSched sets the CPU scheduling policy (schedPolicyNumber) of every
// thread of the process, keeping each thread's nice value; threads started
// later inherit it from the thread that starts them.
func setSched(policy string) error { return setSchedExcept(policy, 0) }

// setSchedExcept is setSched leaving thread keep (> 0) as it is.
func setSchedExcept(policy string, keep int) error {
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
		if err != nil || tid == keep {
			continue
		}
		if err := setThreadSched(tid, p); err != nil {
			return fmt.Errorf("setting scheduling policy %s: thread %d: %w", policy, tid, err)
		}
	}
	return nil
}

// setThreadSched sets one thread's policy, keeping its nice value; a
// thread that ended meanwhile is no error.
func setThreadSched(tid int, p uint32) error {
	attr, err := unix.SchedGetAttr(tid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	attr.Policy, attr.Flags, attr.Priority = p, 0, 0
	if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// pinNormal makes the calling goroutine's thread its own and SCHED_NORMAL
// for good (the thread ends with the goroutine, see runtime.LockOSThread),
// so that it keeps running while the other threads are SCHED_IDLE; it
// returns the thread's id for setSchedExcept.
func pinNormal() (int, error) {
	runtime.LockOSThread()
	tid := unix.Gettid()
	return tid, setThreadSched(tid, unix.SCHED_NORMAL)
}

// sleepThread blocks the calling thread for d in the kernel: the thread
// wakes on time at its own policy, not when a Go timer is next run by a
// thread that may be SCHED_IDLE and starved.
func sleepThread(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.Nanosleep(&ts, nil)
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
