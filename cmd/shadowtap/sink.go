package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/detect"
)

// alertMsg is one alert on its way to the sinks: the alert and its JSON
// encoding (the body every sink but syslog sends as is).
type alertMsg struct {
	alert detect.Alert
	body  []byte
}

// sinkAlert is the JSON a sink sends: the contract's alert plus its
// stable id (the one `shadowtap alerts ack ID` takes).
type sinkAlert struct {
	ID string `json:"id"`
	detect.Alert
}

// newAlertMsg encodes an alert once for all the sinks.
func newAlertMsg(a detect.Alert) (*alertMsg, error) {
	body, err := json.Marshal(sinkAlert{ID: detect.AlertID(&a), Alert: a})
	if err != nil {
		return nil, fmt.Errorf("encoding alert: %w", err)
	}
	return &alertMsg{alert: a, body: body}, nil
}

// sender delivers alerts to one destination. deliver is called from one
// goroutine at a time; it returns when the alert was delivered, could not
// be (error), or ctx ended.
type sender interface {
	deliver(ctx context.Context, m *alertMsg) error
	close() error
}

// sinkCounters count a sink's deliveries.
type sinkCounters struct {
	sent, failed, dropped atomic.Uint64
}

// sink runs one sender on its own goroutine behind a bounded queue, so a
// slow destination neither blocks the engine nor the other sinks.
type sink struct {
	name, typ string
	snd       sender
	queue     chan *alertMsg
	counters  sinkCounters
	log       zerolog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	// box, when set (a daemon with a store), records what the sink was
	// handed until it is delivered; set before the first offer.
	box *outbox
}

// defaultSinkQueue is the alerts a sink holds while its destination is slow.
const defaultSinkQueue = 1024

func startSink(name, typ string, snd sender, queue int, log zerolog.Logger) *sink {
	if queue <= 0 {
		queue = defaultSinkQueue
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sink{name: name, typ: typ, snd: snd, queue: make(chan *alertMsg, queue),
		log: log.With().Str("sink", name).Logger(), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sink) loop() {
	defer close(s.done)
	for m := range s.queue {
		if s.ctx.Err() != nil {
			s.counters.dropped.Add(1)
			s.settle(m, false)
			continue
		}
		if err := s.snd.deliver(s.ctx, m); err != nil {
			s.counters.failed.Add(1)
			s.log.Error().Err(err).Str("kind", m.alert.Kind).Msg("alert not delivered")
			s.settle(m, false)
			continue
		}
		s.counters.sent.Add(1)
		s.settle(m, true)
	}
}

// offer queues m without blocking; a full queue drops it (counted; with an
// outbox it is handed over again at the next replay). It reports whether m
// was queued.
func (s *sink) offer(m *alertMsg) bool {
	if s.box != nil && !s.box.put(s.name, m) {
		return false // already queued or in delivery
	}
	select {
	case s.queue <- m:
		return true
	default:
		s.counters.dropped.Add(1)
		s.settle(m, false)
		return false
	}
}

// settle tells the outbox how m's delivery ended.
func (s *sink) settle(m *alertMsg, delivered bool) {
	switch {
	case s.box == nil:
	case delivered:
		s.box.delivered(s.name, m)
	default:
		s.box.release(s.name, m)
	}
}

// stop lets the queue drain until ctx ends, then abandons what is left
// (counted as dropped) and closes the sender.
func (s *sink) stop(ctx context.Context) error {
	close(s.queue)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	return s.snd.close()
}

// sinkSet is the sinks of one configuration. publish may be called from one
// goroutine; stats is safe for concurrent use.
type sinkSet struct {
	sinks []*sink
}

// openSinks opens every configured sink; on error the ones opened are
// closed again.
func openSinks(cfgs []sinkConfig, stdout io.Writer, log zerolog.Logger) (*sinkSet, error) {
	set := &sinkSet{}
	for i := range cfgs {
		c := cfgs[i]
		snd, err := newSender(&c, stdout)
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			set.stop(ctx)
			cancel()
			return nil, fmt.Errorf("sink %s: %w", c.Name, err)
		}
		set.sinks = append(set.sinks, startSink(c.Name, c.Type, snd, c.Queue, log))
	}
	return set, nil
}

func newSender(c *sinkConfig, stdout io.Writer) (sender, error) {
	switch c.Type {
	case "jsonl":
		return openJSONLSender(c.Path, stdout)
	case "webhook":
		return newWebhookSender(c)
	case "syslog":
		return newSyslogSender(c)
	}
	return nil, fmt.Errorf("%w: unknown sink type %q", errConfig, c.Type)
}

// attach makes every sink record what it is handed in box; before the
// first publish.
func (ss *sinkSet) attach(box *outbox) {
	for _, s := range ss.sinks {
		s.box = box
	}
}

// byName returns the sink of that name, or nil.
func (ss *sinkSet) byName(name string) *sink {
	for _, s := range ss.sinks {
		if s.name == name {
			return s
		}
	}
	return nil
}

// publish hands an alert to every sink.
func (ss *sinkSet) publish(m *alertMsg) {
	for _, s := range ss.sinks {
		s.offer(m)
	}
}

// stop drains and closes every sink, all within ctx.
func (ss *sinkSet) stop(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ss.sinks))
	for i, s := range ss.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.stop(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sinkStat is one sink's counters for metrics.
type sinkStat struct {
	name, typ             string
	sent, failed, dropped uint64
}

func (ss *sinkSet) stats() []sinkStat {
	out := make([]sinkStat, 0, len(ss.sinks))
	for _, s := range ss.sinks {
		out = append(out, sinkStat{s.name, s.typ, s.counters.sent.Load(), s.counters.failed.Load(), s.counters.dropped.Load()})
	}
	return out
}

// jsonlSender appends one JSON line per alert to a file or stdout.
type jsonlSender struct {
	w io.Writer
	f *os.File
}

func openJSONLSender(path string, stdout io.Writer) (*jsonlSender, error) {
	if path == "" || path == "-" {
		return &jsonlSender{w: stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening alert file: %w", err)
	}
	return &jsonlSender{w: f, f: f}, nil
}

// deliver writes the line in one write call, so that lines stay whole in a
// file shared with other writers (O_APPEND).
func (j *jsonlSender) deliver(_ context.Context, m *alertMsg) error {
	line := make([]byte, 0, len(m.body)+1)
	line = append(append(line, m.body...), '\n')
	if _, err := j.w.Write(line); err != nil {
		return fmt.Errorf("writing alert: %w", err)
	}
	return nil
}

func (j *jsonlSender) close() error {
	if j.f != nil {
		return j.f.Close()
	}
	return nil
}
