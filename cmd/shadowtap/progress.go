package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/shadowtap/shadowtap/capture"
)

// isTerminal reports whether w is a terminal (progress bars only go there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// progressBar draws read progress on a terminal a few times a second.
type progressBar struct {
	w           io.Writer
	done, total atomic.Int64
	packets     atomic.Int64
	start       time.Time
	quit        chan struct{}
	wg          sync.WaitGroup
}

func startProgress(w io.Writer) *progressBar {
	b := &progressBar{w: w, start: time.Now(), quit: make(chan struct{})}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.quit:
				fmt.Fprint(b.w, "\r\033[K")
				return
			case <-t.C:
				b.draw()
			}
		}
	}()
	return b
}

func (b *progressBar) draw() {
	done, total := b.done.Load(), b.total.Load()
	secs := time.Since(b.start).Seconds()
	rate := float64(done) / 1e6 / secs
	if total <= 0 {
		fmt.Fprintf(b.w, "\r\033[K%d packets  %.0f MB/s", b.packets.Load(), rate)
		return
	}
	frac := float64(done) / float64(total)
	if frac > 1 {
		frac = 1
	}
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %3.0f%%  %d packets  %.0f MB/s", strings.Repeat("=", n),
		strings.Repeat(" ", width-n), frac*100, b.packets.Load(), rate)
}

func (b *progressBar) stop() {
	close(b.quit)
	b.wg.Wait()
}

// wrap returns a Source that samples src's progress as packets are read.
func (b *progressBar) wrap(src capture.Source) capture.Source {
	p, _ := src.(interface{ Progress() (done, total int64) })
	return &progressSource{Source: src, p: p, bar: b}
}

type progressSource struct {
	capture.Source
	p   interface{ Progress() (done, total int64) }
	bar *progressBar
	n   int64
}

func (s *progressSource) Next(pkt *capture.Packet) error {
	err := s.Source.Next(pkt)
	s.n++
	if s.n&1023 == 0 {
		s.bar.packets.Store(s.n)
		if s.p != nil {
			done, total := s.p.Progress()
			s.bar.done.Store(done)
			s.bar.total.Store(total)
		}
	}
	return err
}
