package synth

import (
	"errors"
	"math/rand/v2"
	"time"
)

// specOp is an operation read from a --spec document.
type specOp struct{}

// specAPI is an API read from a --spec document.
type specAPI struct {
	ops        []*operation
	host       string
	documented []byte
}

var errSpecPending = errors.New("--spec support is being written")

func loadSpec(path string, r *rand.Rand) (*specAPI, error) { return nil, errSpecPending }
func (s *sim) specCalls(ss *session)                       {}
func (s *sim) planSpecIncidents()                          {}
func (s *sim) renderSpec(ss *session, c *call) ([]byte, []byte, time.Duration) {
	return nil, nil, 0
}
