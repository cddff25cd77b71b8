package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/storage"
)

// openStore opens the badger store in dir and starts its upkeep.
func (d *daemon) openStore(dir string) error {
	db, err := storage.Open(dir, storage.Options{Logger: d.log})
	if err != nil {
		return err
	}
	db.Start()
	d.store, d.storeDir = db, dir
	d.storeClose = db.Close
	d.counters.storeSize.Store(dirSize(dir))
	return nil
}

// loadState reads the engine's last saved state; before the loop starts.
func (d *daemon) loadState() error {
	if err := d.engine.Load(d.store); err != nil {
		return fmt.Errorf("loading state from %s: %w", d.storeDir, err)
	}
	d.primeAlerts()
	return nil
}

// flush saves the engine's state to the store: the engine encodes a
// snapshot on the loop, a goroutine writes it, so disk I/O stays off the
// engine (a periodic flush while the previous write is still going is
// skipped). A failed write (full disk, I/O error) is logged and counted;
// the daemon goes on and tries again at the next flush. Engine loop only.
func (d *daemon) flush() { d.flushWith(false) }

// flushWith with final waits for any write in flight, then writes on the
// caller's goroutine (shutdown).
func (d *daemon) flushWith(final bool) {
	if d.store == nil {
		return
	}
	if d.writing != nil {
		select {
		case <-d.writing:
		default:
			if !final {
				return
			}
			<-d.writing
		}
		d.writing = nil
	}
	start := time.Now()
	sn, err := d.engine.Snapshot(d.store, detect.SaveOptions{})
	if err != nil {
		d.flushFailed(err)
		return
	}
	done := make(chan struct{})
	write := func() {
		defer close(done)
		if err := sn.Write(d.store); err != nil {
			d.flushFailed(err)
			return
		}
		d.counters.flushes.Add(1)
		d.counters.storeSize.Store(dirSize(d.storeDir))
		d.log.Debug().Dur("took", time.Since(start)).Msg("state flushed")
	}
	if final {
		write()
		return
	}
	d.writing = done
	go write()
}

func (d *daemon) flushFailed(err error) {
	d.counters.flushErrors.Add(1)
	d.log.Error().Err(err).Str("db", d.storeDir).Msg("state not flushed to the store; retrying at the next flush")
}

// closeStore closes the store, once.
func (d *daemon) closeStore() error {
	if d.storeClose == nil {
		return nil
	}
	err := d.storeClose()
	d.storeClose = nil
	return err
}

// rebuildEngine replaces the engine by one with new options carrying the
// same state (saved to and loaded from memory): SIGHUP's spec reload.
// Engine loop only.
func (d *daemon) rebuildEngine(opts detect.Options) error {
	e, err := detect.NewEngine(opts)
	if err != nil {
		return err
	}
	mem := detect.NewMemStore()
	if err := d.engine.Save(mem); err != nil {
		return fmt.Errorf("saving state for the new engine: %w", err)
	}
	if err := e.Load(mem); err != nil {
		return fmt.Errorf("loading state into the new engine: %w", err)
	}
	d.engine = e
	d.feed.engine.Store(e) // transactions prepared by the old engine are prepared again (ObservePrepared)
	d.cache.valid = false
	return nil
}

// dirSize sums the disk space of the regular files directly in dir (the
// store's files: allocated blocks, as badger preallocates sparse value
// logs); 0 when it cannot be read.
func dirSize(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += fi.Size()
		}
	}
	return total
}
