// Package reassembly turns TCP segments and ordered byte streams into HTTP
// transactions.
package reassembly
