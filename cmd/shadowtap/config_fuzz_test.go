package main

import (
	"os"
	"testing"
)

// FuzzConfig: any configuration file gives a configuration or a clear
// error, never a panic, and what withDefaults accepts is complete.
func FuzzConfig(f *testing.F) {
	if b, err := os.ReadFile("../../deploy/shadowtap.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("listen: 127.0.0.1:8080\nsinks:\n  - {type: webhook, url: 'http://x', max_attempts: 3, backoff: 2s}\n  - {type: syslog, network: udp, address: '127.0.0.1:514', facility: local0}\nmemory_budget: 512MiB\n"))
	f.Add([]byte("flush_interval: -1s\nmemory_budget: none\nsinks: [{type: jsonl}, {type: jsonl}]\n"))
	f.Add([]byte("iface: [eth0, eth1]\nworkers: 0\nnice: 19\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b)
		if err != nil {
			return
		}
		c, err = c.withDefaults("")
		if err != nil {
			return
		}
		if c.Listen == "" || c.FlushInterval <= 0 || c.AlertInterval <= 0 || c.Workers < 1 || c.Workers > maxWorkers {
			t.Fatalf("accepted an incomplete configuration: %+v", c)
		}
		seen := map[string]bool{}
		for _, s := range c.Sinks {
			if s.Name == "" || seen[s.Name] || s.Queue < 0 || s.Queue > maxSinkQueue {
				t.Fatalf("sink names %+v", c.Sinks)
			}
			seen[s.Name] = true
		}
	})
}
