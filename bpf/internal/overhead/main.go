package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shadowtap/shadowtap/bpf"
	"github.com/shadowtap/shadowtap/reassembly"
)

func main() {
	serve := flag.String("serve", "", "serve HTTP on this address")
	port := flag.Uint("port", 0, "run the sensor on connections with this port")
	flag.Parse()
	if *serve != "" {
		body := []byte(`{"id":42,"name":"widget","tags":["a","b"],"price":12.5}`)
		err := http.ListenAndServe(*serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := sense(uint16(*port)); err != nil {
		fmt.Fprintln(os.Stderr, "overhead:", err)
		os.Exit(1)
	}
}

func sense(port uint16) error {
	s, err := bpf.Open(bpf.Options{Ports: []uint16{port}})
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var n atomic.Uint64
	start := time.Now()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	fmt.Println("ready")
	if err := s.Run(ctx, func(*reassembly.Transaction) { n.Add(1) }); err != nil {
		return err
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	wall := time.Since(start)
	mode, _ := s.Mode()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"mode": mode.String(), "transactions": n.Load(), "wall_s": wall.Seconds(),
		"cpu_s": cpu.Seconds(), "cores": cpu.Seconds() / wall.Seconds(), "stats": s.Stats(),
	})
}
