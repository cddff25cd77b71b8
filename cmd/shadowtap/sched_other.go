//go:build !linux

package main

import "fmt"

// setSched is Linux-only: elsewhere only "normal" is accepted (nothing to do).
func setSched(policy string) error {
	if policy == "normal" {
		return nil
	}
	return fmt.Errorf("scheduling policy %q: %w (Linux only)", policy, errBadSched)
}
