//go:build !linux

package main

import (
	"fmt"
	"time"
)

// setSched is Linux-only: elsewhere only "normal" is accepted (nothing to do).
func setSched(policy string) error {
	if policy == "normal" {
		return nil
	}
	return fmt.Errorf("scheduling policy %q: %w (Linux only)", policy, errBadSched)
}

// setSchedExcept is setSched (escalation runs under the idle policy only,
// which is Linux-only).
func setSchedExcept(policy string, _ int) error { return setSched(policy) }

// pinNormal has nothing to pin off Linux.
func pinNormal() (int, error) { return 0, nil }

func sleepThread(d time.Duration) { time.Sleep(d) }
