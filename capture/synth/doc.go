// Package synth writes synthetic captures: real TCP conversations carrying
// HTTP, with the simulator's labelled API scenarios on top.
package synth
