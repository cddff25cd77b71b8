package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shadowtap/shadowtap/detect"
)

// rfc5424 is a message taken apart by parse5424.
type rfc5424 struct {
	pri                                     int
	timestamp, hostname, app, procid, msgid string
	sd                                      map[string]map[string]string
	msg                                     string
}

// parse5424 checks s against the grammar of RFC 5424, section 6, and
// returns its parts. It is written from the ABNF, independently of
// formatRFC5424.
func parse5424(s string) (*rfc5424, error) {
	m := &rfc5424{sd: map[string]map[string]string{}}
	p := 0
	next := func() (byte, bool) {
		if p >= len(s) {
			return 0, false
		}
		c := s[p]
		p++
		return c, true
	}
	expect := func(c byte, what string) error {
		if got, ok := next(); !ok || got != c {
			return fmt.Errorf("at %d: want %q (%s)", p-1, c, what)
		}
		return nil
	}
	// PRI = "<" PRIVAL ">", PRIVAL = 1*3DIGIT in 0..191.
	if err := expect('<', "PRI"); err != nil {
		return nil, err
	}
	start := p
	for p < len(s) && s[p] >= '0' && s[p] <= '9' {
		p++
	}
	if p-start < 1 || p-start > 3 {
		return nil, fmt.Errorf("PRIVAL %q: 1 to 3 digits", s[start:p])
	}
	m.pri, _ = strconv.Atoi(s[start:p])
	if m.pri > 191 {
		return nil, fmt.Errorf("PRIVAL %d > 191", m.pri)
	}
	if err := expect('>', "PRI"); err != nil {
		return nil, err
	}
	// VERSION = NONZERO-DIGIT 0*2DIGIT; we speak version 1.
	if err := expect('1', "VERSION"); err != nil {
		return nil, err
	}
	if err := expect(' ', "SP after VERSION"); err != nil {
		return nil, err
	}
	field := func(max int, name string) (string, error) {
		start := p
		for p < len(s) && s[p] != ' ' {
			if s[p] < 33 || s[p] > 126 {
				return "", fmt.Errorf("%s: byte %#x is not PRINTUSASCII", name, s[p])
			}
			p++
		}
		v := s[start:p]
		if len(v) == 0 || len(v) > max {
			return "", fmt.Errorf("%s %q: length %d not in 1..%d", name, v, len(v), max)
		}
		if err := expect(' ', "SP after "+name); err != nil {
			return "", err
		}
		return v, nil
	}
	var err error
	if m.timestamp, err = field(64, "TIMESTAMP"); err != nil {
		return nil, err
	}
	if m.timestamp != "-" {
		if err := checkTimestamp(m.timestamp); err != nil {
			return nil, err
		}
	}
	if m.hostname, err = field(255, "HOSTNAME"); err != nil {
		return nil, err
	}
	if m.app, err = field(48, "APP-NAME"); err != nil {
		return nil, err
	}
	if m.procid, err = field(128, "PROCID"); err != nil {
		return nil, err
	}
	if m.msgid, err = field(32, "MSGID"); err != nil {
		return nil, err
	}
	// STRUCTURED-DATA = NILVALUE / 1*SD-ELEMENT
	sdName := func(what string) (string, error) {
		start := p
		for p < len(s) {
			c := s[p]
			if c == '=' || c == ' ' || c == ']' || c == '"' || c < 33 || c > 126 {
				break
			}
			p++
		}
		n := s[start:p]
		if len(n) == 0 || len(n) > 32 {
			return "", fmt.Errorf("%s %q: length not in 1..32", what, n)
		}
		return n, nil
	}
	if p < len(s) && s[p] == '-' {
		p++
	} else {
		if p >= len(s) || s[p] != '[' {
			return nil, fmt.Errorf("at %d: STRUCTURED-DATA must be - or [", p)
		}
		for p < len(s) && s[p] == '[' {
			p++
			id, err := sdName("SD-ID")
			if err != nil {
				return nil, err
			}
			if name, num, ok := strings.Cut(id, "@"); ok {
				if name == "" || num == "" || strings.Trim(num, "0123456789.") != "" {
					return nil, fmt.Errorf("SD-ID %q: private ids are name@<enterprise number>", id)
				}
			}
			params := map[string]string{}
			for p < len(s) && s[p] == ' ' {
				p++
				name, err := sdName("PARAM-NAME")
				if err != nil {
					return nil, err
				}
				if err := expect('=', "PARAM-NAME ="); err != nil {
					return nil, err
				}
				if err := expect('"', "PARAM-VALUE open"); err != nil {
					return nil, err
				}
				var v strings.Builder
				for {
					c, ok := next()
					if !ok {
						return nil, fmt.Errorf("PARAM-VALUE of %s not closed", name)
					}
					if c == '\\' && p < len(s) && (s[p] == '"' || s[p] == '\\' || s[p] == ']') {
						v.WriteByte(s[p])
						p++
						continue
					}
					if c == '"' {
						break
					}
					if c == ']' {
						return nil, fmt.Errorf("PARAM-VALUE of %s: unescaped ]", name)
					}
					v.WriteByte(c)
				}
				if !utf8.ValidString(v.String()) {
					return nil, fmt.Errorf("PARAM-VALUE of %s is not UTF-8", name)
				}
				params[name] = v.String()
			}
			if err := expect(']', "SD-ELEMENT close"); err != nil {
				return nil, err
			}
			m.sd[id] = params
		}
	}
	// [SP MSG]
	if p < len(s) {
		if err := expect(' ', "SP before MSG"); err != nil {
			return nil, err
		}
		m.msg = s[p:]
	}
	return m, nil
}

// checkTimestamp checks FULL-DATE "T" FULL-TIME with at most 6 fraction
// digits.
func checkTimestamp(ts string) error {
	date, tm, ok := strings.Cut(ts, "T")
	if !ok || len(date) != 10 || date[4] != '-' || date[7] != '-' {
		return fmt.Errorf("TIMESTAMP %q: bad FULL-DATE", ts)
	}
	if len(tm) < 9 || tm[2] != ':' || tm[5] != ':' {
		return fmt.Errorf("TIMESTAMP %q: bad PARTIAL-TIME", ts)
	}
	rest := tm[8:]
	if strings.HasPrefix(rest, ".") {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 7 {
			return fmt.Errorf("TIMESTAMP %q: TIME-SECFRAC must be 1 to 6 digits", ts)
		}
		rest = rest[n:]
	}
	if rest != "Z" && !(len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
		return fmt.Errorf("TIMESTAMP %q: bad TIME-OFFSET", ts)
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return fmt.Errorf("TIMESTAMP %q: %w", ts, err)
	}
	return nil
}

func TestFormatRFC5424(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 1, 2, 123456789, time.FixedZone("CET", 3600))
	nasty := testAlert(detect.KindSecretExposure, detect.SeverityCritical)
	nasty.Path = `/a"b]c\d/{id}`
	nasty.Host = "h\x01st\xff.example"
	nasty.Summary = "ünïcödé and ] and \" and \\"
	noPrincipal := testAlert(detect.KindShadowEndpoint, detect.SeverityInfo)
	noPrincipal.Principal = nil
	noPrincipal.Client = ""
	tests := []struct {
		name   string
		alert  detect.Alert
		header syslogHeader
		pri    int
	}{
		{"high, daemon", testAlert(detect.KindEnumeration, detect.SeverityHigh), syslogHeader{facility: 3, hostname: "sensor-1", appName: "shadowtap", procID: "42"}, 3*8 + 3},
		{"critical, local0, escapes", nasty, syslogHeader{facility: 16, hostname: "sensor 1\x7f", appName: "shadowtap", procID: "42"}, 16*8 + 2},
		{"info, no hostname, no principal", noPrincipal, syslogHeader{facility: 23, appName: strings.Repeat("a", 60)}, 23*8 + 6},
		{"medium", testAlert(detect.KindAuthAbuse, detect.SeverityMedium), syslogHeader{facility: 4, hostname: "h"}, 4*8 + 4},
		{"low", testAlert(detect.KindRateAnomaly, detect.SeverityLow), syslogHeader{facility: 1, hostname: "h"}, 1*8 + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newAlertMsg(tt.alert)
			if err != nil {
				t.Fatal(err)
			}
			out := string(formatRFC5424(nil, &tt.header, now, m))
			got, err := parse5424(out)
			if err != nil {
				t.Fatalf("not RFC 5424: %v\n%s", err, out)
			}
			if got.pri != tt.pri {
				t.Errorf("PRI %d, want %d", got.pri, tt.pri)
			}
			if got.timestamp != "2026-03-02T09:01:02.123456Z" {
				t.Errorf("TIMESTAMP %q", got.timestamp)
			}
			if got.msgid != tt.alert.Kind {
				t.Errorf("MSGID %q, want %q", got.msgid, tt.alert.Kind)
			}
			if len(got.app) > 48 {
				t.Errorf("APP-NAME longer than 48")
			}
			sd := got.sd[sdID]
			if sd == nil {
				t.Fatalf("no %s element: %v", sdID, got.sd)
			}
			if sd["kind"] != tt.alert.Kind || sd["severity"] != tt.alert.Severity || sd["path"] != tt.alert.Path {
				t.Errorf("SD params %v do not round-trip the alert", sd)
			}
			if (tt.alert.Principal != nil) != (sd["principal"] != "") {
				t.Errorf("principal param %q for principal %v", sd["principal"], tt.alert.Principal)
			}
			var a detect.Alert
			if err := json.Unmarshal([]byte(got.msg), &a); err != nil {
				t.Fatalf("MSG is not the alert's JSON: %v", err)
			}
			if a.Summary != tt.alert.Summary || a.Count != tt.alert.Count {
				t.Errorf("MSG alert %+v", a)
			}
		})
	}
}

// TestParse5424RejectsBadMessages keeps the checker honest.
func TestParse5424RejectsBadMessages(t *testing.T) {
	for _, bad := range []string{
		"<192>1 2026-03-02T09:01:02Z h a p m - x",
		"<13>2 2026-03-02T09:01:02Z h a p m - x",
		"<13>1 2026-03-02 09:01:02Z h a p m - x",
		"<13>1 2026-03-02T09:01:02.1234567Z h a p m - x",
		"<13>1 2026-03-02T09:01:02Z h a p " + strings.Repeat("m", 33) + " - x",
		`<13>1 2026-03-02T09:01:02Z h a p m [x@1 k="a]b"] x`,
		`<13>1 2026-03-02T09:01:02Z h a p m [x@y k="v"] x`,
		`<13>1 2026-03-02T09:01:02Z h a p m [x@1 k="v" x`,
		"<13>1 2026-03-02T09:01:02Z h a p m x",
	} {
		if _, err := parse5424(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := parse5424(`<13>1 2026-03-02T09:01:02.5+01:00 h a p m [x@1 k="a\]b\"c\\"][y k="v"] msg`); err != nil {
		t.Errorf("rejected a valid message: %v", err)
	}
}

func TestSyslogTransports(t *testing.T) {
	m, _ := newAlertMsg(testAlert(detect.KindEnumeration, detect.SeverityHigh))
	check := func(t *testing.T, raw string) {
		t.Helper()
		got, err := parse5424(raw)
		if err != nil {
			t.Fatalf("received message is not RFC 5424: %v\n%q", err, raw)
		}
		if got.hostname != "sensor-1" || got.app != "shadowtap" || got.pri != 16*8+3 {
			t.Errorf("header %+v", got)
		}
	}
	send := func(t *testing.T, network, addr string) *syslogSender {
		t.Helper()
		s, err := newSyslogSender(&sinkConfig{Type: "syslog", Network: network, Address: addr, Facility: "local0", Hostname: "sensor-1"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.deliver(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	t.Run("udp", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		s := send(t, "udp", pc.LocalAddr().String())
		defer s.close()
		buf := make([]byte, 65536)
		for range 2 {
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			check(t, string(buf[:n]))
		}
	})
	t.Run("tcp octet counting", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan []string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			r := bufio.NewReader(c)
			var msgs []string
			for range 2 {
				// RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG.
				lenStr, err := r.ReadString(' ')
				if err != nil {
					break
				}
				n, err := strconv.Atoi(strings.TrimSuffix(lenStr, " "))
				if err != nil {
					break
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(r, b); err != nil {
					break
				}
				msgs = append(msgs, string(b))
			}
			got <- msgs
		}()
		s := send(t, "tcp", ln.Addr().String())
		defer s.close()
		msgs := <-got
		if len(msgs) != 2 {
			t.Fatalf("received %d framed messages, want 2", len(msgs))
		}
		for _, raw := range msgs {
			check(t, raw)
		}
	})
	t.Run("unixgram", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		pc, err := net.ListenPacket("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		s := send(t, "unix", path)
		defer s.close()
		buf := make([]byte, 65536)
		for range 2 {
			pc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			check(t, string(buf[:n]))
		}
	})
}
