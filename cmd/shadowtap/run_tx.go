package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
)

// txWriter appends transactions as JSON lines for the daemon. Unlike
// analyze's writer it appends (O_APPEND), is flushed every feedLinger and
// survives write errors (a full disk): the lines lost are counted, the
// buffer is dropped and writing resumes when the disk has room again.
// Engine loop only.
type txWriter struct {
	path     string
	stdout   io.Writer
	f        *os.File
	bw       *bufio.Writer
	enc      *json.Encoder
	rec      txRecord
	pending  uint64 // lines in bw not yet flushed
	counters *daemonCounters
}

func openTxWriter(path string, stdout io.Writer, c *daemonCounters) (*txWriter, error) {
	w := &txWriter{path: path, stdout: stdout, counters: c}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *txWriter) open() error {
	var out io.Writer = w.stdout
	if w.path != "-" {
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("opening transactions output: %w", err)
		}
		w.f, out = f, f
	}
	w.bw = bufio.NewWriterSize(out, 64<<10)
	w.enc = json.NewEncoder(w.bw)
	w.enc.SetEscapeHTML(false)
	return nil
}

// write appends t, its request-target redacted by red (the current
// engine's).
func (w *txWriter) write(t *reassembly.Transaction, endpoint string, red detect.Redactor) {
	w.rec.fill(t, endpoint, red)
	if err := w.enc.Encode(&w.rec); err != nil {
		w.pending++ // this line is lost too
		w.fail()
		return
	}
	w.pending++
}

// flush writes the buffered lines out.
func (w *txWriter) flush() error {
	if w.pending == 0 && w.bw.Buffered() == 0 {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		w.fail()
		return fmt.Errorf("writing transactions: %w", err)
	}
	w.pending = 0
	return nil
}

// fail counts a write error and drops what is buffered, the pending lines
// (a bufio.Writer keeps failing after an error until it is reset).
func (w *txWriter) fail() {
	w.counters.txWriteErrors.Add(1)
	w.counters.txLinesLost.Add(w.pending)
	w.pending = 0
	if w.f != nil {
		w.bw.Reset(w.f)
	} else {
		w.bw.Reset(w.stdout)
	}
}

// reopen closes and opens the file again (after log rotation, on SIGHUP).
func (w *txWriter) reopen() error {
	w.flush()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	return w.open()
}

func (w *txWriter) close() error {
	if w.bw == nil {
		return nil
	}
	err := w.flush()
	w.bw = nil
	if w.f != nil {
		if cerr := w.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing transactions output: %w", cerr)
		}
	}
	return err
}
