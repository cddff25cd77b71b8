package detect

import (
	"strings"
	"unique"

	"github.com/shadowtap/shadowtap/reassembly"
)

// Prepared is what observing a transaction computes from the transaction
// and the engine's configuration alone: the scans of its target, headers
// and bodies for secrets and personal data, its authentication and
// principal, its host, method, path segments, query parameters and
// response media type. Engine.Prepare fills it, on any goroutine;
// Engine.ObservePrepared applies it to the engine's state.
//
// The zero value is ready for Prepare. A Prepared may be reused for
// another transaction once ObservePrepared has returned: Prepare resets it
// and reuses its buffers, so a pool of them allocates nothing per
// transaction in the steady state. It holds views of the transaction it
// was prepared from (strings of its target and headers).
type Prepared struct {
	// by is the engine that prepared it.
	by *Engine
	// valid is false for a transaction without a request (nothing to do).
	valid bool
	// dot: the path has dot-segments (a traversal probe).
	dot    bool
	host   string
	method string
	segs   []string
	// classes are segs' classes (derive, engine.go).
	classes []segInfo
	view    txView
	// hits are the secrets found, for the secret detector.
	hits []secretHit
	// values are the personal values of the response body, in the order
	// found, for the volume watch; respTypes the data types found there.
	values    []personalValue
	respTypes sensitiveSet
	// findings is the scanner's buffer.
	findings []finding
	// reqClasses are the classes of the request headers (headerClass), by
	// index, from the secret scan for authAndCreds.
	reqClasses []hdrClass
	// lastHost is the last host derive interned, kept across reset: the
	// transactions a Prepared is used for mostly share their host, so
	// derive compares with it before asking unique.Make.
	lastHost unique.Handle[string]
}

// personalValue is one personal value of a response body, as the volume
// watch counts it.
type personalValue struct {
	typ  dataType
	hash uint64
}

// Prepare computes the stateless part of observing t into p (see
// Prepared), overwriting what p held.
//
// Concurrency: Prepare reads only the engine's configuration, which does
// not change after NewEngine, and package tables that never change, so it
// may run on any number of goroutines at once, concurrently with each
// other and with ObservePrepared, Observe, Report and the engine's other
// methods (which run on one goroutine). Each call needs its own p and its
// own t: Prepare reads t's body samples through their accessors, which
// decode an encoded body on first use (so that work happens here too).
// Hand t and p to the engine's goroutine afterwards through something
// that orders memory (a channel, a mutex), and change neither until
// ObservePrepared(t, p) has returned.
func (e *Engine) Prepare(t *reassembly.Transaction, p *Prepared) {
	p.reset()
	p.by = e
	if t.Method == "" {
		return
	}
	p.valid = true
	v := &p.view
	v.query = appendQuery(v.query, t.Target)
	p.scanSecretsQuery(t, v.query)
	p.segs = appendPath(p.segs, t.Target)
	if hasDotSegment(p.segs) {
		p.dot = true
		v.query = v.query[:0] // as when the query was parsed after this
		return
	}
	p.host = EndpointHost(t)
	p.method = upperMethod(t.Method)
	v.ts, v.client, v.status, v.raw = t.RequestTime, e.clientOf(t), outcomeOf(t), t
	if v.ts.IsZero() {
		v.ts = t.ResponseTime
	}
	v.auth, v.cred, v.credNames = authAndCredsClassed(t, p.reqClasses, v.query, v.credNames, e.creds, e.keys)
	v.sensitive = p.respTypes
	v.respType = respMediaType(t.RespHeader("Content-Type"))
	p.derive(t)
}

// upperMethod is strings.ToUpper(truncate(m, 32)), the common methods
// recognised first.
func upperMethod(m string) string {
	if c, ok := knownMethod(m); ok {
		return c
	}
	return strings.ToUpper(truncate(m, 32))
}

// respMediaType is mediaType(ct), the common types that come as they are
// (lower case, without spaces, perhaps with parameters) compared whole
// rather than trimmed and lower-cased.
func respMediaType(ct string) string {
	m := ct
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	if c, ok := knownMediaType(m); ok {
		return c
	}
	return mediaType(ct)
}

// reset empties p for another transaction, keeping its buffers.
func (p *Prepared) reset() {
	segs, classes, hits, values, findings := p.segs[:0], p.classes[:0], p.hits[:0], p.values[:0], p.findings[:0]
	reqClasses, query, credNames, qinfo := p.reqClasses[:0], p.view.query[:0], p.view.credNames[:0], p.view.qinfo[:0]
	lastHost := p.lastHost
	// Cleared in place, then the buffers put back: no Prepared built
	// aside and copied.
	*p = Prepared{}
	p.segs, p.classes, p.hits, p.values, p.findings = segs, classes, hits, values, findings
	p.reqClasses, p.view.query, p.view.credNames, p.view.qinfo = reqClasses, query, credNames, qinfo
	p.lastHost = lastHost
}

// ObservePrepared applies to the engine's state a transaction prepared by
// Prepare and returns its endpoint template, as Observe does; a p prepared
// by another engine (one a reload replaced) is prepared again first. Like
// Observe it must not run concurrently with the engine's other methods
// other than Prepare; p may be reused once it returns.
func (e *Engine) ObservePrepared(t *reassembly.Transaction, p *Prepared) string {
	if p.by != e {
		e.Prepare(t, p)
	}
	if !p.valid {
		return ""
	}
	path := e.inventory(t, p)
	if path == "" {
		return ""
	}
	v := &p.view
	if p.respTypes&personalSet != 0 {
		e.pii.volume.observe(v, t, p.values, p.host, p.method, path)
	}
	e.secrets.observe(e, t, p, path)
	e.pii.observe(t, v, p.host, path)
	if e.behave != nil {
		e.behave.observe(t, v, p.host, p.method, path)
	}
	return path
}
