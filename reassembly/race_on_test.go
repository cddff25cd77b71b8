//go:build race

package reassembly

// raceEnabled: sync.Pool drops items at random under the race detector,
// so allocation counts that rely on pooled decompressors are not pinned.
const raceEnabled = true
