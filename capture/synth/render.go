package synth

import (
	"strconv"
	"time"
)

// render builds the request and response bytes for one call, and the
// server's processing time. The bytes are valid until the next call.
func (s *sim) render(ss *session, c *call) (req, resp []byte, srvTime time.Duration) {
	if s.spec != nil {
		return s.renderSpec(ss, c)
	}
	a, r := ss.a, s.rng
	op := s.byKind[c.op]
	ua := ss.ua
	if ua == "" {
		ua = a.ua
	}
	var target []byte
	var reqBody []byte
	target = append(target, op.path...)
	switch c.op {
	case opCustomer, opCustomerOrders, opOrder, opReceipt, opRefund:
		target = replaceParam(target, "{id}", strconv.FormatInt(c.id, 10))
	case opProduct:
		target = replaceParam(target, "{sku}", string(appendSKU(nil, c.id)))
	}
	q := byte('?')
	addQ := func(k, v string) {
		target = append(target, q)
		target = append(target, k...)
		target = append(target, '=')
		target = append(target, v...)
		q = '&'
	}
	switch c.op {
	case opLookup:
		addQ("email", c.s)
	case opOrders:
		addQ("page", strconv.FormatInt(c.id, 10))
		addQ("page_size", strconv.Itoa(c.n))
	case opSearch:
		addQ("q", c.s)
		addQ("limit", strconv.Itoa(c.n))
	case opExport:
		addQ("since", s.start.Add(time.Duration(c.id)*24*time.Hour).Format("2006-01-02"))
	case opAdminUsers:
		addQ("page", strconv.FormatInt(c.id, 10))
	}
	authed := !c.noAuth && a.scheme != "none" && a.scheme != ""
	if authed && a.scheme == "apikey-query" {
		addQ("api_key", a.cred)
	}
	if c.query != "" {
		target = append(target, q)
		target = append(target, c.query...)
	}
	hdr := make([]Header, 0, 6)
	hdr = append(hdr, Header{"User-Agent", ua}, Header{"Accept", "application/json"})
	if a.gzip {
		hdr = append(hdr, Header{"Accept-Encoding", "gzip, deflate, br"})
	}
	if authed {
		switch a.scheme {
		case "jwt":
			if c.op != opLogin {
				hdr = append(hdr, Header{"Authorization", "Bearer " + a.cred})
			}
		case "cookie":
			hdr = append(hdr, Header{"Cookie", "session=" + a.cred + "; theme=light"})
		case "apikey-header":
			hdr = append(hdr, Header{"X-API-Key", a.cred})
		}
	}
	status := c.status
	switch c.op {
	case opLogin:
		email := c.s
		if email == "" {
			email = string(customerEmail(nil, a.cust))
		}
		reqBody = append(reqBody, `{"email":"`...)
		reqBody = append(reqBody, email...)
		reqBody = append(reqBody, `","password":"`...)
		reqBody = append(reqBody, randToken("", 12, r.Uint64(), alnum)...)
		reqBody = append(reqBody, `"}`...)
	case opCreateOrder:
		reqBody = append(reqBody, `{"items":[{"sku":"`...)
		reqBody = appendSKU(reqBody, c.id)
		reqBody = append(reqBody, `","qty":1}],"payment_method":"card_on_file"`...)
		reqBody = append(reqBody, c.bodyAdd...)
		reqBody = append(reqBody, '}')
	case opPatchMe:
		reqBody = append(reqBody, `{"marketing_opt_in":`...)
		reqBody = strconv.AppendBool(reqBody, r.IntN(2) == 0)
		reqBody = append(reqBody, c.bodyAdd...)
		reqBody = append(reqBody, '}')
	}
	if reqBody != nil {
		hdr = append(hdr, Header{"Content-Type", "application/json"})
	}
	// Response.
	if status == 0 {
		status = s.statusFor(ss, c, authed)
	}
	body := s.buf[:0]
	chunked := false
	srvTime = time.Duration(2+r.IntN(25)) * time.Millisecond
	if status >= 400 {
		body = append(body, `{"error":"`...)
		switch status {
		case 401:
			body = append(body, "unauthorized"...)
		case 403:
			body = append(body, "forbidden"...)
		case 404:
			body = append(body, "not_found"...)
		case 400:
			body = append(body, "bad_request"...)
		case 429:
			body = append(body, "rate_limited"...)
		default:
			body = append(body, "internal_error"...)
		}
		body = append(body, `","request_id":"`...)
		body = append(body, randToken("", 16, r.Uint64(), hexChars)...)
		body = append(body, `"}`...)
	} else {
		switch c.op {
		case opLogin, opToken:
			body = append(body, `{"access_token":"`...)
			if a.scheme == "jwt" {
				body = append(body, a.cred...)
			} else {
				body = append(body, makeJWT("usr_"+strconv.FormatInt(a.cust, 10), s.start.Unix(), r.Uint64())...)
			}
			body = append(body, `","token_type":"Bearer","expires_in":3600}`...)
			srvTime += 60 * time.Millisecond // password hashing
		case opMe, opPatchMe, opCustomer:
			id := c.id
			if c.op != opCustomer {
				id = a.cust
			}
			body = appendCustomer(body, id)
		case opLookup:
			body = appendCustomer(body, c.id)
		case opCustomerOrders:
			body = append(body, `{"orders":[`...)
			for k := range ordersOf(c.id) {
				if k > 0 {
					body = append(body, ',')
				}
				body = appendOrder(body, orderID(c.id, k), false)
			}
			body = append(body, `]}`...)
		case opOrders:
			body = append(body, `{"page":`...)
			body = strconv.AppendInt(body, c.id, 10)
			body = append(body, `,"page_size":`...)
			body = strconv.AppendInt(body, int64(c.n), 10)
			body = append(body, `,"orders":[`...)
			base := a.cust + (c.id-1)*int64(c.n)
			for k := range c.n {
				if k > 0 {
					body = append(body, ',')
				}
				cust := 1 + (base+int64(k))%s.customers
				body = appendOrder(body, orderID(cust, 0), c.n > 100)
			}
			body = append(body, `]}`...)
			chunked = true
			srvTime += time.Duration(c.n/10) * time.Millisecond
		case opOrder, opReceipt, opRefund:
			body = appendOrder(body, c.id, true)
		case opCreateOrder:
			body = appendOrder(body, orderID(a.cust, 0), true)
		case opProduct:
			body = appendProduct(body, c.id)
		case opSearch:
			body = append(body, `{"query":"`...)
			body = append(body, c.s...)
			body = append(body, `","results":[`...)
			h := mix(uint64(len(c.s)) ^ uint64(c.s[0]))
			for k := range c.n {
				if k > 0 {
					body = append(body, ',')
				}
				body = appendProduct(body, 1+int64((h+uint64(k)*7919)%2000))
			}
			body = append(body, `]}`...)
			chunked = c.n > 20
		case opExport:
			body = append(body, `{"customers":[`...)
			for k := range c.n {
				if k > 0 {
					body = append(body, ',')
				}
				body = appendCustomer(body, 1+(int64(k)*7+c.id*1000)%s.customers)
			}
			body = append(body, `]}`...)
			chunked = true
			srvTime += 400 * time.Millisecond
		case opAdminUsers:
			body = append(body, `{"users":[`...)
			for k := range 25 {
				if k > 0 {
					body = append(body, ',')
				}
				body = appendCustomer(body, (c.id-1)*25+int64(k)+1)
			}
			body = append(body, `]}`...)
		case opDebug:
			body = append(body, `{"version":"2.14.3","build":"a91c0e2","env":"production","db_host":"orders-db.internal:5432","cache":"redis://cache.internal:6379/0","feature_flags":{"new_checkout":true,"bulk_export":true},"goroutines":`...)
			body = strconv.AppendInt(body, int64(40+r.IntN(200)), 10)
			body = append(body, '}')
		case opChangePassword:
			status = 204
		}
		if c.respAdd != "" && len(body) > 0 && body[len(body)-1] == '}' {
			body = append(body[:len(body)-1], c.respAdd...)
			body = append(body, '}')
		}
	}
	s.buf = body
	rs := Response{Status: status, Header: []Header{{"Content-Type", "application/json"}, {"X-Request-Id", randToken("", 16, r.Uint64(), hexChars)}}, Body: body, Chunked: chunked, ChunkSize: 8192, Compressor: &s.cz}
	if status == 201 {
		rs.Header = append(rs.Header, Header{"Location", "/v1/orders/" + strconv.FormatInt(orderID(a.cust, 0), 10)})
	}
	if status == 204 {
		rs.NoBody = true
		rs.Header = rs.Header[:0]
	}
	if a.gzip && len(body) > 1024 {
		rs.ContentEncoding = "gzip"
		rs.Header = append(rs.Header, Header{"Vary", "Accept-Encoding"})
	}
	rq := Request{Method: op.method, Target: string(target), Host: s.host, Header: hdr, Body: reqBody}
	var err error
	if s.reqBuf, err = rq.Append(s.reqBuf[:0]); err != nil {
		panic(err) // only unknown encodings fail
	}
	if s.respBuf, err = rs.Append(s.respBuf[:0]); err != nil {
		panic(err)
	}
	return s.reqBuf, s.respBuf, srvTime
}

func replaceParam(b []byte, name, val string) []byte {
	s := string(b)
	for i := 0; i+len(name) <= len(s); i++ {
		if s[i:i+len(name)] == name {
			return []byte(s[:i] + val + s[i+len(name):])
		}
	}
	return b
}

// statusFor decides a benign call's status: mostly success, with the
// usual share of not-found, bad requests, rate limits and server errors.
func (s *sim) statusFor(ss *session, c *call, authed bool) int {
	op := s.byKind[c.op]
	r := s.rng
	if !authed && (op.security == "user" || op.security == "admin" || op.security == "service") {
		return 401
	}
	switch u := r.Float64(); {
	case u < 0.002:
		return 500
	case u < 0.004 && ss.a.kind == kindIntegration:
		return 429
	case u < 0.006 && ss.a.scheme == "jwt":
		return 401 // expired token
	}
	switch c.op {
	case opProduct:
		if c.id > 2000 {
			return 404
		}
	case opLookup:
		if c.id == 0 {
			return 404
		}
	case opCreateOrder:
		return 201
	case opChangePassword:
		return 204
	case opLogin:
		if r.Float64() < 0.04 {
			return 401 // a mistyped password
		}
	case opSearch:
		if r.Float64() < 0.005 {
			return 400
		}
	}
	return 200
}
