// Package content decodes HTTP content codings (gzip, deflate, br and stacks
// of them) into a bounded sample, for an observer that keeps only the first
// bytes of a body and must never be made to allocate without bound.
package content
