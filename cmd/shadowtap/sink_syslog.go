package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/detect"
)

// facilities maps syslog facility keywords to their codes (RFC 5424, 6.2.1).
var facilities = map[string]int{
	"": 3, "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"ntp": 12, "security": 13, "console": 14, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// syslogSeverity maps an alert's severity to a syslog severity code.
func syslogSeverity(s string) int {
	switch s {
	case detect.SeverityCritical:
		return 2 // critical
	case detect.SeverityHigh:
		return 3 // error
	case detect.SeverityMedium:
		return 4 // warning
	case detect.SeverityLow:
		return 5 // notice
	}
	return 6 // informational
}

// sdID is the structured-data element's name. 32473 is the enterprise
// number reserved for documentation (RFC 5612); an SD-ID with "@" is
// free for private use (RFC 5424, 6.3.2).
const sdID = "shadowtap@32473"

// maxUDPMessage bounds a syslog datagram (the IPv4 UDP payload maximum).
const maxUDPMessage = 65507

// syslogHeader holds the fixed fields of our messages.
type syslogHeader struct {
	facility int
	hostname string
	appName  string
	procID   string
}

// formatRFC5424 appends one RFC 5424 message for the alert to buf:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [shadowtap@32473 ...] MSG
//
// MSGID is the alert kind, the structured data carries the alert's fields
// and MSG is the alert's JSON (the contract's shape).
func formatRFC5424(buf []byte, h *syslogHeader, now time.Time, m *alertMsg) []byte {
	a := &m.alert
	buf = append(buf, '<')
	buf = strconv.AppendInt(buf, int64(h.facility*8+syslogSeverity(a.Severity)), 10)
	buf = append(buf, ">1 "...)
	buf = now.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000000Z")
	buf = append(buf, ' ')
	buf = appendHeaderField(buf, h.hostname, 255)
	buf = append(buf, ' ')
	buf = appendHeaderField(buf, h.appName, 48)
	buf = append(buf, ' ')
	buf = appendHeaderField(buf, h.procID, 128)
	buf = append(buf, ' ')
	buf = appendHeaderField(buf, a.Kind, 32)
	buf = append(buf, " ["...)
	buf = append(buf, sdID...)
	params := []struct{ name, value string }{
		{"kind", a.Kind}, {"severity", a.Severity}, {"host", a.Host}, {"method", a.Method},
		{"path", a.Path}, {"client", a.Client}, {"count", strconv.FormatUint(a.Count, 10)},
		{"first_seen", a.FirstSeen}, {"last_seen", a.LastSeen},
	}
	if a.Principal != nil {
		params = append(params, struct{ name, value string }{"principal", *a.Principal})
	}
	for _, p := range params {
		if p.value == "" {
			continue
		}
		buf = append(buf, ' ')
		buf = append(buf, p.name...)
		buf = append(buf, `="`...)
		buf = appendParamValue(buf, p.value)
		buf = append(buf, '"')
	}
	buf = append(buf, "] "...)
	return append(buf, m.body...)
}

// appendHeaderField appends a header field: printable US-ASCII without
// spaces, at most n bytes, "-" (NILVALUE) when empty.
func appendHeaderField(buf []byte, s string, n int) []byte {
	if s == "" {
		return append(buf, '-')
	}
	if len(s) > n {
		s = s[:n]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		buf = append(buf, c)
	}
	return buf
}

// appendParamValue appends a PARAM-VALUE: UTF-8 with '"', '\' and ']'
// escaped by a backslash; invalid UTF-8 and control characters become
// U+FFFD so the message stays valid.
func appendParamValue(buf []byte, s string) []byte {
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == ']':
			buf = append(buf, '\\', byte(r))
		case r == 0xFFFD || r < 0x20 || r == 0x7f:
			buf = append(buf, "\uFFFD"...)
		default:
			buf = append(buf, string(r)...)
		}
	}
	return buf
}

// syslogSender sends RFC 5424 messages over UDP (one per datagram), TCP
// (octet-counting framing, RFC 6587) or a unix socket (datagram, else
// stream with newline framing). It redials once after a write error.
type syslogSender struct {
	network, address string
	header           syslogHeader
	timeout          time.Duration
	conn             net.Conn
	stream           bool // framing needed: tcp or unix stream
	octetCount       bool // tcp: octet counting; unix stream: newline
	now              func() time.Time
	buf              []byte
}

func newSyslogSender(c *sinkConfig) (*syslogSender, error) {
	s := &syslogSender{network: c.Network, address: c.Address, timeout: time.Duration(c.Timeout), now: time.Now}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if s.network == "unix" && s.address == "" {
		s.address = "/dev/log"
	}
	s.header.facility = facilities[strings.ToLower(c.Facility)]
	s.header.appName = c.AppName
	if s.header.appName == "" {
		s.header.appName = "shadowtap"
	}
	s.header.hostname = c.Hostname
	if s.header.hostname == "" {
		s.header.hostname, _ = os.Hostname()
	}
	s.header.procID = strconv.Itoa(os.Getpid())
	// A collector that is down now is dialled again at the first alert:
	// the daemon does not depend on it to start.
	s.dial()
	return s, nil
}

func (s *syslogSender) dial() error {
	d := net.Dialer{Timeout: s.timeout}
	var err error
	switch s.network {
	case "udp":
		s.conn, err = d.Dial("udp", s.address)
		s.stream = false
	case "tcp":
		s.conn, err = d.Dial("tcp", s.address)
		s.stream, s.octetCount = true, true
	case "unix":
		s.conn, err = d.Dial("unixgram", s.address)
		s.stream = false
		if err != nil {
			s.conn, err = d.Dial("unix", s.address)
			s.stream, s.octetCount = true, false
		}
	default:
		return fmt.Errorf("%w: syslog network %q", errConfig, s.network)
	}
	if err != nil {
		s.conn = nil
		return fmt.Errorf("connecting to syslog %s %s: %w", s.network, s.address, err)
	}
	return nil
}

func (s *syslogSender) deliver(ctx context.Context, m *alertMsg) error {
	msg := formatRFC5424(s.buf[:0], &s.header, s.now(), m)
	s.buf = msg
	if !s.stream && len(msg) > maxUDPMessage {
		msg = msg[:maxUDPMessage]
	}
	var frame []byte
	switch {
	case s.stream && s.octetCount:
		frame = append(strconv.AppendInt(nil, int64(len(msg)), 10), ' ')
		frame = append(frame, msg...)
	case s.stream:
		frame = append(append(frame, msg...), '\n')
	default:
		frame = msg
	}
	if s.conn == nil {
		if err := s.dial(); err != nil {
			return err
		}
	}
	err := s.write(frame)
	if err != nil && ctx.Err() == nil {
		// One redial: the collector may have restarted.
		s.conn.Close()
		s.conn = nil
		if derr := s.dial(); derr != nil {
			return fmt.Errorf("writing to syslog: %w (redial: %w)", err, derr)
		}
		err = s.write(frame)
	}
	if err != nil {
		return fmt.Errorf("writing to syslog: %w", err)
	}
	return nil
}

func (s *syslogSender) write(b []byte) error {
	s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.conn.Write(b)
	return err
}

func (s *syslogSender) close() error {
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}
