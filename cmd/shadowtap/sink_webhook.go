package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Webhook headers.
const (
	// signatureHeader carries "sha256=" + hex(HMAC-SHA256(secret, body)).
	signatureHeader = "X-Shadowtap-Signature"
	// deliveryHeader identifies one alert's delivery; retries repeat it so
	// receivers can drop duplicates.
	deliveryHeader = "X-Shadowtap-Delivery"
	// attemptHeader numbers the attempts of a delivery from 1.
	attemptHeader = "X-Shadowtap-Attempt"
)

// errPermanent marks a webhook answer that retrying will not change (4xx
// other than 408 and 429).
var errPermanent = errors.New("rejected")

// webhookSender POSTs each alert as JSON, signed, with retries and
// exponential backoff.
type webhookSender struct {
	url         string
	secret      []byte
	client      *http.Client
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
	// wait sleeps d or until ctx ends; tests may replace it.
	wait func(ctx context.Context, d time.Duration) error
}

func newWebhookSender(c *sinkConfig) (*webhookSender, error) {
	w := &webhookSender{
		url:         c.URL,
		maxAttempts: c.MaxAttempts,
		backoff:     time.Duration(c.Backoff),
		maxBackoff:  time.Duration(c.MaxBackoff),
		wait:        sleepCtx,
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return nil, fmt.Errorf("%w: webhook url %q is not http(s)", errConfig, c.URL)
	}
	switch {
	case c.Secret != "":
		w.secret = []byte(c.Secret)
	case c.SecretFile != "":
		b, err := os.ReadFile(c.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading webhook secret: %w", err)
		}
		w.secret = bytes.TrimSpace(b)
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = 5
	}
	if w.backoff <= 0 {
		w.backoff = time.Second
	}
	if w.maxBackoff <= 0 {
		w.maxBackoff = time.Minute
	}
	timeout := time.Duration(c.Timeout)
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	w.client = &http.Client{Timeout: timeout}
	return w, nil
}

// sign returns the signature header's value for body.
func sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// deliver posts m until it is accepted (2xx), refused for good, the
// attempts run out or ctx ends. The wait doubles after each failure, up to
// maxBackoff; a Retry-After in seconds lengthens it (within maxBackoff).
func (w *webhookSender) deliver(ctx context.Context, m *alertMsg) error {
	var id [8]byte
	rand.Read(id[:])
	delivery := hex.EncodeToString(id[:])
	delay := w.backoff
	var err error
	for attempt := 1; ; attempt++ {
		var retryAfter time.Duration
		retryAfter, err = w.post(ctx, m.body, delivery, attempt)
		if err == nil {
			return nil
		}
		if errors.Is(err, errPermanent) || attempt >= w.maxAttempts || ctx.Err() != nil {
			return fmt.Errorf("webhook delivery %s, attempt %d of %d: %w", delivery, attempt, w.maxAttempts, err)
		}
		d := max(delay, min(retryAfter, w.maxBackoff))
		if werr := w.wait(ctx, d); werr != nil {
			return fmt.Errorf("webhook delivery %s, attempt %d: %w (then %w)", delivery, attempt, err, werr)
		}
		delay = min(delay*2, w.maxBackoff)
	}
}

// post makes one attempt; it returns the server's Retry-After, if any.
func (w *webhookSender) post(ctx context.Context, body []byte, delivery string, attempt int) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "shadowtap/"+versionString())
	req.Header.Set(deliveryHeader, delivery)
	req.Header.Set(attemptHeader, strconv.Itoa(attempt))
	if len(w.secret) > 0 {
		req.Header.Set(signatureHeader, sign(w.secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	var ra time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	err = fmt.Errorf("status %s", resp.Status)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
		err = fmt.Errorf("%w: %w", errPermanent, err)
	}
	return ra, err
}

func (w *webhookSender) close() error {
	w.client.CloseIdleConnections()
	return nil
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
