package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// errConfig marks a configuration that cannot be used.
var errConfig = errors.New("invalid configuration")

// daemonConfig is the daemon's configuration: the YAML file's keys, which
// the command-line flags override. Its zero value, after defaults, runs.
type daemonConfig struct {
	// Ifaces are the network interfaces captured through AF_PACKET.
	Ifaces []string `yaml:"iface"`
	// PCAP is a capture file fed through the live pipeline.
	PCAP string `yaml:"pcap"`
	// EBPF captures this host's own traffic through eBPF.
	EBPF bool `yaml:"ebpf"`
	// EBPFFilter limits what the eBPF sensor traces (run_ebpf.go); read at
	// start only.
	EBPFFilter ebpfFilter `yaml:"ebpf_filter"`
	// EBPFBothEnds reports a connection between two traced local
	// processes from both of them (each transaction twice, once per
	// process); by default only the server's side reports it. Read at
	// start only.
	EBPFBothEnds bool `yaml:"ebpf_both_ends"`
	// Specs are OpenAPI documents, as for analyze.
	Specs []string `yaml:"spec"`
	// DB is the store's directory; "" means the default (as for analyze:
	// $SHADOWTAP_DB, /var/lib/shadowtap as root, else the user's data
	// dir); "none" means no store (state lives in memory only).
	DB string `yaml:"db"`
	// Transactions is a JSON-lines file transactions are appended to.
	Transactions string `yaml:"transactions"`
	// Listen is the HTTP API's address; "" means 127.0.0.1:8417.
	Listen string `yaml:"listen"`
	// APITokenFile holds the bearer token the API requires; required
	// when Listen is not a loopback address.
	APITokenFile string `yaml:"api_token_file"`
	// Filter is a capture filter in tcpdump syntax.
	Filter string `yaml:"filter"`
	// Workers is the reassembly workers of a --pcap source; 0 means 1.
	// Live interfaces are spread over FanoutWorkers sockets instead, each
	// reassembled by one worker: a merge across workers releases
	// transactions only as packets arrive, which would delay them on a
	// quiet link.
	Workers int `yaml:"workers"`
	// FanoutWorkers is the AF_PACKET fanout sockets per interface; 0
	// means one per core.
	FanoutWorkers int `yaml:"fanout_workers"`
	// MaxBody is the decoded body bytes kept per message, as for analyze.
	MaxBody int `yaml:"max_body"`
	// TrustXFF takes clients from the first X-Forwarded-For hop.
	TrustXFF bool `yaml:"trust_xff"`
	// LogLevel is debug, info, warn or error; "" means info.
	LogLevel string `yaml:"log_level"`
	// FlushInterval is how often state is flushed to the store; 0 means 30s.
	FlushInterval duration `yaml:"flush_interval"`
	// AlertInterval is how often new alerts are collected and sent to the
	// sinks; 0 means 5s.
	AlertInterval duration `yaml:"alert_interval"`
	// Nice is the process's CPU scheduling priority (-20..19); nil leaves it.
	Nice *int `yaml:"nice"`
	// Sched is the CPU scheduling policy of the daemon's threads: idle
	// (they run only on CPU time the host's other processes leave, and a
	// waking process preempts them at once), batch or normal. "" means
	// idle with EBPF (the daemon shares the host with the applications
	// it watches: its wakeups must not delay them; under CPU saturation
	// the ring fills and the loss is counted) and left as is otherwise.
	Sched string `yaml:"sched"`
	// MemoryBudget bounds the Go heap: past 80% of it bodies are no longer
	// sampled, past 100% packets are dropped (both counted). 0 means 1 GiB;
	// "none" (-1) disables it.
	MemoryBudget byteSize `yaml:"memory_budget"`
	// Sinks are where alerts go, several at once.
	Sinks []sinkConfig `yaml:"sinks"`
}

// sinkConfig configures one alert sink.
type sinkConfig struct {
	// Type is jsonl, webhook or syslog.
	Type string `yaml:"type"`
	// Name labels the sink in metrics and logs; "" means Type plus index.
	Name string `yaml:"name"`
	// Queue bounds the alerts waiting for this sink; 0 means 1024. Alerts
	// beyond it are dropped and counted.
	Queue int `yaml:"queue"`

	// Path (jsonl) is the file alerts are appended to; "-" or "" = stdout.
	Path string `yaml:"path"`

	// URL (webhook) receives one POST per alert with the alert as JSON.
	URL string `yaml:"url"`
	// Secret or SecretFile (webhook) keys the HMAC-SHA256 signature sent
	// in the X-Shadowtap-Signature header ("sha256=" + hex).
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// MaxAttempts (webhook) bounds the deliveries tried per alert; 0 means 5.
	MaxAttempts int `yaml:"max_attempts"`
	// Backoff (webhook) is the wait before the first retry, doubled after
	// each failure up to MaxBackoff; 0 means 1s and 1m.
	Backoff    duration `yaml:"backoff"`
	MaxBackoff duration `yaml:"max_backoff"`
	// Timeout (webhook, syslog) bounds one attempt; 0 means 10s.
	Timeout duration `yaml:"timeout"`

	// Network (syslog) is udp, tcp or unix (unixgram is tried first for
	// unix, as /dev/log is); Address its address ("" with unix: /dev/log).
	Network string `yaml:"network"`
	Address string `yaml:"address"`
	// Facility (syslog) is a facility keyword (daemon, local0..local7,
	// user, auth, security...); "" means daemon.
	Facility string `yaml:"facility"`
	// AppName (syslog) is the APP-NAME field; "" means shadowtap.
	AppName string `yaml:"app_name"`
	// Hostname (syslog) is the HOSTNAME field; "" means os.Hostname.
	Hostname string `yaml:"hostname"`
}

// Defaults of the daemon.
const (
	defaultListen        = "127.0.0.1:8417"
	defaultFlushInterval = 30 * time.Second
	defaultAlertInterval = 5 * time.Second
	defaultMemoryBudget  = 1 << 30
	// maxWorkers and maxSinkQueue bound what a configuration may ask for.
	maxWorkers   = 256
	maxSinkQueue = 1 << 20
)

// loadConfig reads a YAML configuration file; unknown keys are errors.
func loadConfig(path string) (daemonConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return daemonConfig{}, fmt.Errorf("reading config: %w", err)
	}
	c, err := parseConfig(b)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes a YAML configuration; unknown keys are errors.
func parseConfig(b []byte) (daemonConfig, error) {
	var c daemonConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("%w: %w", errConfig, err)
	}
	return c, nil
}

// withDefaults fills the zero fields and checks the whole.
// defaultDB is the store used when none is configured ("" or "none": no
// store).
func (c daemonConfig) withDefaults(defaultDB string) (daemonConfig, error) {
	if c.Listen == "" {
		c.Listen = defaultListen
	}
	if c.DB == "" {
		c.DB = defaultDB
	}
	if c.DB == dbNone {
		c.DB = ""
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = duration(defaultFlushInterval)
	}
	if c.AlertInterval <= 0 {
		c.AlertInterval = duration(defaultAlertInterval)
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = defaultMemoryBudget
	}
	if c.Workers < 1 {
		c.Workers = 1
	}
	if c.Workers > maxWorkers {
		return c, fmt.Errorf("%w: workers %d above %d", errConfig, c.Workers, maxWorkers)
	}
	n := 0
	if len(c.Ifaces) > 0 {
		n++
	}
	if c.PCAP != "" {
		n++
	}
	if c.EBPF {
		n++
	}
	if n == 0 {
		return c, fmt.Errorf("%w: nothing to capture: give --iface, --pcap or --ebpf", errConfig)
	}
	if c.PCAP != "" && n > 1 {
		return c, fmt.Errorf("%w: --pcap cannot be combined with live capture", errConfig)
	}
	if c.Nice != nil && (*c.Nice < -20 || *c.Nice > 19) {
		return c, fmt.Errorf("%w: nice %d outside -20..19", errConfig, *c.Nice)
	}
	if c.Sched != "" && !validSched(c.Sched) {
		return c, fmt.Errorf("%w: sched %q: %w", errConfig, c.Sched, errBadSched)
	}
	loop, err := isLoopback(c.Listen)
	if err != nil {
		return c, fmt.Errorf("%w: --listen %q: %w", errConfig, c.Listen, err)
	}
	if !loop && c.APITokenFile == "" {
		return c, fmt.Errorf("%w: --listen %s is not a loopback address: it requires --api-token-file", errConfig, c.Listen)
	}
	names := map[string]bool{}
	for i := range c.Sinks {
		if err := c.Sinks[i].check(i); err != nil {
			return c, err
		}
		// Names key the metrics and the alert outbox.
		if names[c.Sinks[i].Name] {
			return c, fmt.Errorf("%w: two sinks named %q", errConfig, c.Sinks[i].Name)
		}
		names[c.Sinks[i].Name] = true
	}
	return c, nil
}

// check validates one sink's configuration and names it.
func (s *sinkConfig) check(i int) error {
	if s.Name == "" {
		s.Name = s.Type + strconv.Itoa(i)
	}
	if s.Queue < 0 || s.Queue > maxSinkQueue {
		return fmt.Errorf("%w: sink %s: queue %d outside 0..%d", errConfig, s.Name, s.Queue, maxSinkQueue)
	}
	switch s.Type {
	case "jsonl":
	case "webhook":
		if s.URL == "" {
			return fmt.Errorf("%w: sink %s: webhook needs url", errConfig, s.Name)
		}
		if s.Secret != "" && s.SecretFile != "" {
			return fmt.Errorf("%w: sink %s: give secret or secret_file, not both", errConfig, s.Name)
		}
	case "syslog":
		switch s.Network {
		case "udp", "tcp", "unix":
		default:
			return fmt.Errorf("%w: sink %s: syslog network %q is not udp, tcp or unix", errConfig, s.Name, s.Network)
		}
		if s.Address == "" && s.Network != "unix" {
			return fmt.Errorf("%w: sink %s: syslog over %s needs address", errConfig, s.Name, s.Network)
		}
		if _, ok := facilities[strings.ToLower(s.Facility)]; !ok && s.Facility != "" {
			return fmt.Errorf("%w: sink %s: unknown syslog facility %q", errConfig, s.Name, s.Facility)
		}
	default:
		return fmt.Errorf("%w: sink %d: unknown type %q (jsonl, webhook, syslog)", errConfig, i, s.Type)
	}
	return nil
}

// isLoopback reports whether a listen address binds loopback only. A host
// name counts as loopback only when it is "localhost".
func isLoopback(listen string) (bool, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	if host == "" {
		return false, nil // all interfaces
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil
	}
	return a.IsLoopback(), nil
}

// readToken reads a bearer token file: its first line, trimmed.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading API token: %w", err)
	}
	tok := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if len(tok) < 16 {
		return "", fmt.Errorf("%w: API token in %s is shorter than 16 characters", errConfig, path)
	}
	return tok, nil
}

// duration is a time.Duration read from YAML as "30s", "5m"...
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = duration(v)
	return nil
}

func (d duration) String() string { return time.Duration(d).String() }

// Set and the String above make duration a flag.Value.
func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// byteSize is a size read as 1048576, "512MiB", "2GB", or "none" (-1).
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	if err := b.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (b byteSize) String() string {
	if b < 0 {
		return "none"
	}
	return strconv.FormatInt(int64(b), 10)
}

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "none") || s == "-1" {
		*b = -1
		return nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("size %q: want bytes with an optional KiB/MiB/GiB/KB/MB/GB suffix, or none", s)
	}
	*b = byteSize(v * mult)
	return nil
}
