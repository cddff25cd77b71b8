package reassembly

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
)

// cutSource passes on the first n packets of a capture, then fails with err.
type cutSource struct {
	capture.Source
	n   int
	err error
}

func (s *cutSource) Next(p *capture.Packet) error {
	if s.n == 0 {
		return s.err
	}
	s.n--
	return s.Source.Next(p)
}

// TestRunErrors: a capture damaged part-way is analysed up to the damage
// with a warning; other read errors, and a cancelled context, are returned.
func TestRunErrors(t *testing.T) {
	other := errors.New("disk on fire")
	tests := []struct {
		name     string
		err      error
		wantErr  error
		warnings int
	}{
		{"truncated", fmt.Errorf("reading x: %w", capture.ErrTruncated), nil, 1},
		{"corrupt", fmt.Errorf("reading x: %w", capture.ErrCorrupt), nil, 1},
		{"other error", other, other, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := capture.OpenFiles(filepath.Join("..", "testdata", "pipelining.pcap"))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			// The handshake and the three pipelined requests, not the
			// responses.
			var txs []*Transaction
			st, err := Run(context.Background(), &cutSource{Source: src, n: 4, err: tt.err}, Options{}, func(tx *Transaction) { txs = append(txs, tx) })
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(st.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", st.Warnings, tt.warnings)
			}
			if st.Packets != 4 || len(txs) != 3 || txs[0].Flags&FlagNoResponse == 0 {
				t.Errorf("%d packets, %d transactions: the requests before the cut must come out without response", st.Packets, len(txs))
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		src, err := capture.OpenFiles(filepath.Join("..", "testdata", "pipelining.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Run(ctx, src, Options{}, func(*Transaction) {}); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}

// TestWorkersKeepRequestOrder: with several shards, each connection's
// transactions still come in request order (HTTP/2 streams too), and all
// shards' counters add up.
func TestWorkersKeepRequestOrder(t *testing.T) {
	path := filepath.Join(sharedPcaps, "zeek_1000-requests-one-dropped-response.pcap")
	files := []string{filepath.Join("..", "testdata", "pipelining.pcap"), filepath.Join("..", "testdata", "chunked.pcap")}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path, filepath.Join(sharedPcaps, "ppp_http-packets.pcap"), filepath.Join(sharedPcaps, "suri_http2-keywords.pcap"))
	}
	for _, file := range files {
		one, _ := analyse(t, file, Options{Workers: 1})
		for _, workers := range []int{2, 4} {
			var mu sync.Mutex
			perConn := map[string][]*Transaction{}
			src, err := capture.OpenFiles(file)
			if err != nil {
				t.Fatal(err)
			}
			st, err := Run(context.Background(), src, Options{Workers: workers}, func(tx *Transaction) {
				mu.Lock()
				k := tx.Client.String() + tx.Server.String()
				perConn[k] = append(perConn[k], tx)
				mu.Unlock()
			})
			src.Close()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for k, txs := range perConn {
				n += len(txs)
				for i := 1; i < len(txs); i++ {
					if txs[i].Method != "" && txs[i-1].Method != "" && txs[i].RequestTime.Before(txs[i-1].RequestTime) {
						t.Errorf("%s workers=%d %s: transaction %d out of request order", filepath.Base(file), workers, k, i)
					}
				}
			}
			if n != len(one) || st.Transactions != uint64(n) {
				t.Errorf("%s workers=%d: %d transactions (stats %d), one shard gives %d", filepath.Base(file), workers, n, st.Transactions, len(one))
			}
		}
	}
}
