package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigAllKeys(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "c.yaml", `
iface: [eth1, eth2]
spec: [a.yaml, b.yaml]
db: /srv/st
transactions: /var/log/tx.jsonl
listen: 0.0.0.0:9000
api_token_file: /etc/st/token
filter: tcp port 80
workers: 2
fanout_workers: 4
max_body: 4096
trust_xff: true
log_level: debug
flush_interval: 1m
alert_interval: 2s
nice: 5
memory_budget: 512MiB
sinks:
  - type: jsonl
    path: /var/log/alerts.jsonl
  - type: webhook
    name: soc
    url: https://hooks.example/st
    secret_file: /etc/st/hook
    max_attempts: 7
    backoff: 2s
    max_backoff: 30s
    timeout: 5s
    queue: 10
  - type: syslog
    network: tcp
    address: siem:6514
    facility: local3
    app_name: st
`)
	c, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Ifaces, []string{"eth1", "eth2"}) || !slices.Equal(c.Specs, []string{"a.yaml", "b.yaml"}) ||
		c.DB != "/srv/st" || c.Listen != "0.0.0.0:9000" || c.Workers != 2 || c.FanoutWorkers != 4 || c.MaxBody != 4096 ||
		!c.TrustXFF || c.LogLevel != "debug" || time.Duration(c.FlushInterval) != time.Minute ||
		time.Duration(c.AlertInterval) != 2*time.Second || c.Nice == nil || *c.Nice != 5 || c.MemoryBudget != 512<<20 {
		t.Fatalf("config read wrong: %+v", c)
	}
	if len(c.Sinks) != 3 || c.Sinks[1].Name != "soc" || c.Sinks[1].MaxAttempts != 7 || time.Duration(c.Sinks[1].Backoff) != 2*time.Second ||
		c.Sinks[2].Facility != "local3" || c.Sinks[2].Network != "tcp" {
		t.Fatalf("sinks read wrong: %+v", c.Sinks)
	}
	if _, err := c.withDefaults(""); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, yaml, want string }{
		{"unknown key", "ifaces: [eth0]\n", "ifaces"},
		{"bad duration", "flush_interval: soon\n", "soon"},
		{"bad size", "memory_budget: lots\n", "lots"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(writeFile(t, dir, tt.name+".yaml", tt.yaml))
			if err == nil || !errors.Is(err, errConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want errConfig naming %q", err, tt.want)
			}
		})
	}
	if _, err := loadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
	c, err := loadConfig(writeFile(t, dir, "empty.yaml", ""))
	if err != nil || c.Listen != "" {
		t.Fatalf("empty config: %v %+v", err, c)
	}
}

func TestConfigChecks(t *testing.T) {
	nice := 25
	for _, tt := range []struct {
		name string
		c    daemonConfig
		root bool
		want string // "" = valid
	}{
		{"nothing to capture", daemonConfig{}, false, "nothing to capture"},
		{"pcap and iface", daemonConfig{PCAP: "x", Ifaces: []string{"eth0"}}, false, "cannot be combined"},
		{"non-loopback without token", daemonConfig{PCAP: "x", Listen: "0.0.0.0:8417"}, false, "api-token-file"},
		{"all interfaces without token", daemonConfig{PCAP: "x", Listen: ":8417"}, false, "api-token-file"},
		{"named host without token", daemonConfig{PCAP: "x", Listen: "sensor.example:8417"}, false, "api-token-file"},
		{"non-loopback with token", daemonConfig{PCAP: "x", Listen: "192.0.2.1:8417", APITokenFile: "t"}, false, ""},
		{"ipv6 loopback", daemonConfig{PCAP: "x", Listen: "[::1]:8417"}, false, ""},
		{"localhost", daemonConfig{PCAP: "x", Listen: "localhost:8417"}, false, ""},
		{"bad listen", daemonConfig{PCAP: "x", Listen: "8417"}, false, "listen"},
		{"nice out of range", daemonConfig{PCAP: "x", Nice: &nice}, false, "nice"},
		{"webhook without url", daemonConfig{PCAP: "x", Sinks: []sinkConfig{{Type: "webhook"}}}, false, "url"},
		{"webhook two secrets", daemonConfig{PCAP: "x", Sinks: []sinkConfig{{Type: "webhook", URL: "http://h", Secret: "a", SecretFile: "b"}}}, false, "not both"},
		{"syslog bad network", daemonConfig{PCAP: "x", Sinks: []sinkConfig{{Type: "syslog", Network: "sctp", Address: "h:1"}}}, false, "sctp"},
		{"syslog no address", daemonConfig{PCAP: "x", Sinks: []sinkConfig{{Type: "syslog", Network: "udp"}}}, false, "address"},
		{"syslog bad facility", daemonConfig{PCAP: "x", Sinks: []sinkConfig{{Type: "syslog", Network: "unix", Facility: "local9"}}}, false, "local9"},
		{"unknown sink", daemonConfig{PCAP: "x", Sinks: []sinkConfig{{Type: "email"}}}, false, "email"},
		{"ebpf alone", daemonConfig{EBPF: true}, false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.c.withDefaults("")
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, errConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want errConfig naming %q", err, tt.want)
			}
			_ = c
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := daemonConfig{PCAP: "x"}.withDefaults("/var/lib/shadowtap")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != defaultListen || c.DB != "/var/lib/shadowtap" || time.Duration(c.FlushInterval) != defaultFlushInterval ||
		time.Duration(c.AlertInterval) != defaultAlertInterval || c.MemoryBudget != defaultMemoryBudget || c.Workers != 1 || c.LogLevel != "info" {
		t.Fatalf("defaults: %+v", c)
	}
	c, _ = daemonConfig{PCAP: "x"}.withDefaults("")
	if c.DB != "" {
		t.Fatalf("non-root default db %q, want none", c.DB)
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "c.yaml", `
pcap: from-config.pcap
spec: [config.yaml]
listen: 127.0.0.1:9999
log_level: warn
memory_budget: 2GiB
sinks:
  - type: jsonl
    path: config-alerts.jsonl
`)
	f, err := parseRunFlags([]string{"--config", p, "--spec", "flag1.yaml", "--spec", "flag2.yaml", "--log-level", "debug",
		"--memory-budget", "none", "--nice", "3", "--alerts", "-"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.resolve("")
	if err != nil {
		t.Fatal(err)
	}
	if c.PCAP != "from-config.pcap" || c.Listen != "127.0.0.1:9999" {
		t.Errorf("config values lost where no flag was given: %+v", c)
	}
	if !slices.Equal(c.Specs, []string{"flag1.yaml", "flag2.yaml"}) || c.LogLevel != "debug" || c.MemoryBudget != -1 || c.Nice == nil || *c.Nice != 3 {
		t.Errorf("flags did not override: %+v", c)
	}
	if len(c.Sinks) != 2 || c.Sinks[0].Path != "config-alerts.jsonl" || c.Sinks[1].Path != "-" {
		t.Errorf("sinks: %+v", c.Sinks)
	}
	// Without the flag, nice stays unset.
	f, _ = parseRunFlags([]string{"--pcap", "x"}, io.Discard)
	c, _ = f.resolve("")
	if c.Nice != nil {
		t.Errorf("nice set without --nice")
	}
	if _, err := parseRunFlags([]string{"--pcap", "x", "stray"}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("stray argument: err = %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want byteSize
		bad  bool
	}{
		{"1048576", 1 << 20, false}, {"512MiB", 512 << 20, false}, {"2GiB", 2 << 30, false}, {"1 GB", 1e9, false},
		{"64KiB", 64 << 10, false}, {"10B", 10, false}, {"none", -1, false}, {"-1", -1, false},
		{"lots", 0, true}, {"-5", 0, true}, {"1.5GiB", 0, true},
	} {
		var b byteSize
		err := b.Set(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && b != tt.want) {
			t.Errorf("%q: %d, %v; want %d (bad %v)", tt.in, b, err, tt.want, tt.bad)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	tok, err := readToken(writeFile(t, dir, "t", "  0123456789abcdef0123\nsecond line\n"))
	if err != nil || tok != "0123456789abcdef0123" {
		t.Fatalf("%q %v", tok, err)
	}
	if _, err := readToken(writeFile(t, dir, "short", "abc\n")); !errors.Is(err, errConfig) {
		t.Fatalf("short token accepted: %v", err)
	}
}

// TestDeployFiles keeps deploy/ honest: the example config loads and
// checks, and the unit grants exactly the capabilities capture needs.
func TestDeployFiles(t *testing.T) {
	c, err := loadConfig("../../deploy/shadowtap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.withDefaults("/var/lib/shadowtap"); err != nil {
		t.Fatalf("example config refused: %v", err)
	}
	if len(c.Ifaces) == 0 || c.DB != "/var/lib/shadowtap" || len(c.Sinks) == 0 {
		t.Errorf("example config: %+v", c)
	}
	unit, err := os.ReadFile("../../deploy/shadowtap.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"CapabilityBoundingSet=", "AmbientCapabilities="} {
		found := false
		for _, line := range strings.Split(string(unit), "\n") {
			if v, ok := strings.CutPrefix(line, key); ok {
				found = true
				if caps := strings.Fields(v); !slices.Equal(caps, []string{"CAP_NET_RAW", "CAP_NET_ADMIN"}) {
					t.Errorf("%s%v, want CAP_NET_RAW CAP_NET_ADMIN only", key, caps)
				}
			}
		}
		if !found {
			t.Errorf("unit has no %s line", key)
		}
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/shadowtap run --config /etc/shadowtap/shadowtap.yaml") ||
		!strings.Contains(string(unit), "ExecReload=/bin/kill -HUP $MAINPID") {
		t.Errorf("unit does not start and reload the daemon as documented")
	}
}
