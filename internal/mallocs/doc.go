// Package mallocs counts heap allocations for the tests that pin them:
// PerRun is testing.AllocsPerRun with fractions kept, for paths that
// allocate once every few runs (a chunk shared by several messages).
package mallocs
