package detect

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

const (
	// piiMinResponses is how many responses carrying personal data an
	// unauthenticated caller must receive from an endpoint before the
	// endpoint's episode is raised.
	piiMinResponses = 3
	// maxPIIEpisodes bounds the sensitive_data_exposure episodes.
	maxPIIEpisodes = 4096
	// maxPIIClients bounds the distinct anonymous clients kept per episode.
	maxPIIClients = 256
)

// personalSet is the personal-data part of a sensitive set (secrets have
// their own detector).
const personalSet = sensEmail | sensPhone | sensCard | sensIBAN | sensSSN | sensAddress | sensBirthdate

type piiKey struct{ host, method, path string }

type piiEpisode struct {
	alert       Alert
	first, last time.Time
	detected    time.Time
	types       sensitiveSet
	clients     map[netip.Addr]struct{}
	moreClients bool
}

// piiDetector raises sensitive_data_exposure alerts: personal data returned
// to callers that sent no credentials, one episode per endpoint. It is owned
// by the Engine.
type piiDetector struct {
	episodes map[piiKey]*piiEpisode
	dropped  uint64
	// volume watches the distinct personal values each principal receives.
	volume piiVolume
}

func (d *piiDetector) observe(t *reassembly.Transaction, v *txView, host, path string) {
	types := v.sensitive & personalSet
	if types == 0 || v.auth != authNone || t.Status < 200 || t.Status >= 300 {
		return
	}
	method := strings.ToUpper(truncate(t.Method, 32))
	k := piiKey{host, method, path}
	ep := d.episodes[k]
	if ep == nil {
		if len(d.episodes) >= maxPIIEpisodes {
			d.dropped++
			return
		}
		if d.episodes == nil {
			d.episodes = map[piiKey]*piiEpisode{}
		}
		ep = &piiEpisode{first: v.ts, clients: map[netip.Addr]struct{}{}, alert: Alert{
			Kind: KindSensitiveDataExposure, Host: host, Method: method, Path: path, Client: v.client.String(),
		}}
		d.episodes[k] = ep
	}
	if v.ts.Before(ep.first) {
		ep.first = v.ts
	}
	if v.ts.After(ep.last) {
		ep.last = v.ts
	}
	ep.alert.Count++
	ep.types |= types
	if len(ep.clients) < maxPIIClients {
		ep.clients[v.client] = struct{}{}
	} else if _, ok := ep.clients[v.client]; !ok {
		ep.moreClients = true
	}
	if ep.alert.Count == piiMinResponses {
		ep.detected = v.ts
	}
}

func (d *piiDetector) alerts() []Alert {
	out := d.volume.alerts()
	for _, ep := range d.episodes {
		if ep.alert.Count < piiMinResponses {
			continue
		}
		a := ep.alert
		a.FirstSeen, a.LastSeen = FormatTime(ep.first), FormatTime(ep.last)
		a.Severity = SeverityHigh
		if ep.types&(sensCard|sensIBAN|sensSSN) != 0 {
			a.Severity = SeverityCritical
		}
		clients := counted(len(ep.clients), "client")
		if ep.moreClients {
			clients = fmt.Sprintf("more than %d clients", len(ep.clients))
		}
		a.Summary = fmt.Sprintf("%s %s returned %s to %s without credentials from %s",
			a.Method, a.Path, strings.Join(ep.types.names(), ", "), counted(a.Count, "request"), clients)
		a.Evidence = map[string]any{
			"detected_at":  FormatTime(ep.detected),
			"data_types":   ep.types.names(),
			"requests":     a.Count,
			"clients":      len(ep.clients),
			"auth":         "none",
			"min_requests": piiMinResponses,
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}
