package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/detect"
)

func testAlert(kind, severity string) detect.Alert {
	p := "bearer:3f9a0b1c"
	return detect.Alert{Kind: kind, Severity: severity, Host: "api.example.com", Method: "GET", Path: "/users/{id}",
		Client: "203.0.113.7", Principal: &p, FirstSeen: "2026-03-02T10:00:00Z", LastSeen: "2026-03-02T10:05:00Z",
		Count: 5000, Summary: `one client walked 5000 ids on "GET /users/{id}"`,
		Evidence: map[string]any{"detected_at": "2026-03-02T10:01:00Z", "distinct": 4800}}
}

// hookServer answers the first fail requests with status, then 200, and
// records every request.
type hookServer struct {
	mu     sync.Mutex
	fail   int
	status int
	reqs   []hookReq
}

type hookReq struct {
	body                        []byte
	sig, delivery, attempt, typ string
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = append(h.reqs, hookReq{body, r.Header.Get(signatureHeader), r.Header.Get(deliveryHeader), r.Header.Get(attemptHeader), r.Header.Get("Content-Type")})
	if len(h.reqs) <= h.fail {
		w.WriteHeader(h.status)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks a signature the way a receiver would.
func verify(secret string, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func TestWebhookRetriesAndSignature(t *testing.T) {
	const secret = "s3cret-for-the-hook"
	tests := []struct {
		name        string
		fail        int
		status      int
		maxAttempts int
		wantErr     bool
		wantReqs    int
		wantWaits   []time.Duration
	}{
		{name: "first try", fail: 0, status: 200, maxAttempts: 5, wantReqs: 1},
		{name: "two 503 then ok", fail: 2, status: 503, maxAttempts: 5, wantReqs: 3, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{name: "429 retried", fail: 1, status: 429, maxAttempts: 5, wantReqs: 2, wantWaits: []time.Duration{10 * time.Millisecond}},
		{name: "backoff capped", fail: 4, status: 500, maxAttempts: 5, wantReqs: 5, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond}},
		{name: "attempts exhausted", fail: 10, status: 502, maxAttempts: 3, wantErr: true, wantReqs: 3, wantWaits: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{name: "400 not retried", fail: 10, status: 400, maxAttempts: 5, wantErr: true, wantReqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &hookServer{fail: tt.fail, status: tt.status}
			srv := httptest.NewServer(h)
			defer srv.Close()
			c := sinkConfig{Type: "webhook", URL: srv.URL, Secret: secret, MaxAttempts: tt.maxAttempts,
				Backoff: duration(10 * time.Millisecond), MaxBackoff: duration(50 * time.Millisecond)}
			w, err := newWebhookSender(&c)
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			w.wait = func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }
			m, err := newAlertMsg(testAlert(detect.KindEnumeration, detect.SeverityHigh))
			if err != nil {
				t.Fatal(err)
			}
			err = w.deliver(context.Background(), m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("deliver: err = %v, want error %v", err, tt.wantErr)
			}
			if len(h.reqs) != tt.wantReqs {
				t.Fatalf("%d requests, want %d", len(h.reqs), tt.wantReqs)
			}
			if len(waits) != len(tt.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
			}
			for i := range waits {
				if waits[i] != tt.wantWaits[i] {
					t.Errorf("wait %d = %v, want %v", i, waits[i], tt.wantWaits[i])
				}
			}
			for i, r := range h.reqs {
				if !verify(secret, r.body, r.sig) {
					t.Errorf("request %d: signature %q does not verify over its body", i, r.sig)
				}
				if verify("another secret", r.body, r.sig) {
					t.Errorf("request %d: signature verifies with the wrong secret", i)
				}
				if r.delivery == "" || r.delivery != h.reqs[0].delivery {
					t.Errorf("request %d: delivery id %q, want the first's %q", i, r.delivery, h.reqs[0].delivery)
				}
				if r.attempt != itoa(uint64(i+1)) {
					t.Errorf("request %d: attempt header %q", i, r.attempt)
				}
				if r.typ != "application/json" {
					t.Errorf("content type %q", r.typ)
				}
				var a sinkAlert
				if err := json.Unmarshal(r.body, &a); err != nil || a.Kind != detect.KindEnumeration || a.Count != 5000 || len(a.ID) != 16 {
					t.Errorf("body does not carry the alert: %v %+v", err, a)
				}
			}
		})
	}
}

func TestWebhookRetryAfterAndCancel(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := sinkConfig{Type: "webhook", URL: srv.URL, Backoff: duration(time.Millisecond), MaxBackoff: duration(time.Minute)}
	w, err := newWebhookSender(&c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var waits []time.Duration
	w.wait = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		cancel()
		return ctx.Err()
	}
	m, _ := newAlertMsg(testAlert(detect.KindAuthAbuse, detect.SeverityMedium))
	err = w.deliver(ctx, m)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled in the chain", err)
	}
	if len(waits) != 1 || waits[0] != 2*time.Second {
		t.Fatalf("waits %v, want [2s] from Retry-After", waits)
	}
}

// TestSinkQueueBounded checks a stuck sink drops (and counts) what its
// queue cannot hold instead of blocking the caller.
func TestSinkQueueBounded(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	c := sinkConfig{Type: "webhook", Name: "slow", URL: srv.URL, Queue: 2, MaxAttempts: 1}
	snd, err := newWebhookSender(&c)
	if err != nil {
		t.Fatal(err)
	}
	s := startSink(c.Name, c.Type, snd, c.Queue, zerolog.Nop())
	m, _ := newAlertMsg(testAlert(detect.KindExfiltration, detect.SeverityHigh))
	for range 10 {
		s.offer(m) // never blocks
	}
	// One is in flight, two queued at most: at least 7 dropped.
	if d := s.counters.dropped.Load(); d < 7 {
		t.Fatalf("dropped %d, want ≥ 7", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.stop(ctx)
	if s.counters.sent.Load() != 0 {
		t.Fatalf("sent %d to a server that never answered", s.counters.sent.Load())
	}
}
