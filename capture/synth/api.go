package synth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"strconv"
)

// opKind names one operation of the built-in example API.
type opKind int

const (
	opLogin opKind = iota
	opToken
	opMe
	opPatchMe
	opCustomer
	opCustomerOrders
	opLookup
	opDeleteCustomer
	opOrders
	opOrder
	opCreateOrder
	opReceipt
	opRefund
	opProduct
	opSearch
	opExport
	opAdminUsers
	opDebug
	opChangePassword
	numOps
)

// param documents one operation parameter for documented.yaml.
type param struct {
	name, in, typ, format string
	required              bool
}

// operation is one method+path of an API, as truth.json reports it.
type operation struct {
	kind       opKind
	method     string
	path       string // full template, base path included
	summary    string
	documented bool
	security   string // "user", "none", "service", "admin", "any"
	params     []param
	reqSchema  string // name of a components schema, "" for none
	respSchema string
	// for spec-driven APIs
	spec *specOp
}

const basePath = "/v1"

// builtinOps returns the built-in example API: a small shop with accounts,
// customers, orders, products, search, login/token, bulk export, and admin
// and debug endpoints. Undocumented operations play the shadow ones;
// documented but never called ones the unseen.
func builtinOps() []*operation {
	id := func(n string) param {
		return param{name: n, in: "path", typ: "integer", format: "int64", required: true}
	}
	q := func(n, t string) param { return param{name: n, in: "query", typ: t} }
	return []*operation{
		{kind: opLogin, method: "POST", path: "/v1/auth/login", summary: "Log in with email and password; returns a JWT", documented: true, security: "none", reqSchema: "Login", respSchema: "Token"},
		{kind: opToken, method: "POST", path: "/v1/auth/token", summary: "Exchange an API key for a short-lived token", documented: true, security: "service", respSchema: "Token"},
		{kind: opMe, method: "GET", path: "/v1/accounts/me", summary: "The caller's account", documented: true, security: "user", respSchema: "Customer"},
		{kind: opPatchMe, method: "PATCH", path: "/v1/accounts/me", summary: "Update the caller's account", documented: true, security: "user", reqSchema: "CustomerUpdate", respSchema: "Customer"},
		{kind: opChangePassword, method: "PUT", path: "/v1/accounts/me/password", summary: "Change the caller's password", documented: true, security: "user"},
		{kind: opCustomer, method: "GET", path: "/v1/customers/{id}", summary: "A customer by id", documented: true, security: "user", params: []param{id("id")}, respSchema: "Customer"},
		{kind: opDeleteCustomer, method: "DELETE", path: "/v1/customers/{id}", summary: "Delete a customer", documented: true, security: "admin", params: []param{id("id")}},
		{kind: opCustomerOrders, method: "GET", path: "/v1/customers/{id}/orders", summary: "A customer's orders", documented: true, security: "user", params: []param{id("id")}, respSchema: "OrderList"},
		{kind: opLookup, method: "GET", path: "/v1/customers/lookup", summary: "Find a customer by email", documented: true, security: "user", params: []param{{name: "email", in: "query", typ: "string", format: "email", required: true}}, respSchema: "Customer"},
		{kind: opOrders, method: "GET", path: "/v1/orders", summary: "List orders, paginated", documented: true, security: "user", params: []param{q("page", "integer"), q("page_size", "integer")}, respSchema: "OrderList"},
		{kind: opOrder, method: "GET", path: "/v1/orders/{id}", summary: "An order by id", documented: true, security: "user", params: []param{id("id")}, respSchema: "Order"},
		{kind: opCreateOrder, method: "POST", path: "/v1/orders", summary: "Place an order", documented: true, security: "user", reqSchema: "OrderCreate", respSchema: "Order"},
		{kind: opReceipt, method: "GET", path: "/v1/orders/{id}/receipt", summary: "Printable receipt of an order", documented: true, security: "user", params: []param{id("id")}, respSchema: "Receipt"},
		{kind: opRefund, method: "POST", path: "/v1/orders/{id}/refund", summary: "Refund an order (support staff)", documented: false, security: "admin", params: []param{id("id")}, respSchema: "Order"},
		{kind: opProduct, method: "GET", path: "/v1/products/{sku}", summary: "A product by SKU", documented: true, security: "any", params: []param{{name: "sku", in: "path", typ: "string", required: true}}, respSchema: "Product"},
		{kind: opSearch, method: "GET", path: "/v1/search", summary: "Search products", documented: true, security: "any", params: []param{{name: "q", in: "query", typ: "string", required: true}, q("limit", "integer")}, respSchema: "SearchResult"},
		{kind: opExport, method: "GET", path: "/v1/export/customers", summary: "Bulk export of customers changed since a date (service keys)", documented: true, security: "service", params: []param{{name: "since", in: "query", typ: "string", format: "date"}}, respSchema: "CustomerList"},
		{kind: opAdminUsers, method: "GET", path: "/v1/admin/users", summary: "Internal: list user accounts", documented: false, security: "admin", params: []param{q("page", "integer")}},
		{kind: opDebug, method: "GET", path: "/v1/debug/config", summary: "Internal: dump the running configuration", documented: false, security: "none"},
	}
}

// Synthetic personal data, derived from ids: stable and obviously fake.
var (
	firstNames = []string{"Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo", "Amelia", "Levi", "Harper", "Ezra", "Aria", "Kai", "Chloe", "Yusuf", "Priya", "Hiro", "Ana", "Tomasz", "Ines", "Kwame"}
	lastNames  = []string{"Smith", "Johnson", "Nguyen", "Garcia", "Brown", "Kowalski", "Silva", "Müller", "Okafor", "Tanaka", "Rossi", "Dubois", "Patel", "Kim", "Jensen", "Haddad", "Novak", "Lopez", "Walker", "Ivanova"}
	streets    = []string{"Oak St", "Maple Ave", "Cedar Rd", "Elm St", "Pine Ln", "Birch Way", "Harbor Blvd", "Mill Rd", "Station St", "Park Ave"}
	cities     = []string{"Springfield", "Riverton", "Lakeside", "Fairview", "Georgetown", "Ashland", "Oakridge", "Greenville"}
	mailDoms   = []string{"example.com", "example.net", "example.org", "mail.example", "inbox.example"}
	words      = []string{"shoes", "jacket", "lamp", "coffee", "headphones", "desk", "chair", "backpack", "watch", "kettle", "camera", "charger", "sofa", "tent", "bike", "blender", "mug", "keyboard", "monitor", "rug"}
	orderState = []string{"placed", "paid", "shipped", "delivered", "delivered", "delivered", "returned"}
)

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func customerEmail(dst []byte, id int64) []byte {
	h := mix(uint64(id))
	dst = append(dst, lower(firstNames[h%uint64(len(firstNames))])...)
	dst = append(dst, '.')
	dst = append(dst, lower(lastNames[(h>>8)%uint64(len(lastNames))])...)
	dst = strconv.AppendInt(dst, id%1000, 10)
	dst = append(dst, '@')
	return append(dst, mailDoms[(h>>16)%uint64(len(mailDoms))]...)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	// keep ASCII only in emails
	out := b[:0]
	for _, c := range b {
		if c < 0x80 {
			out = append(out, c)
		}
	}
	return string(out)
}

func appendQuoted(dst []byte, key, val string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, `":"`...)
	dst = append(dst, val...)
	return append(dst, '"')
}

func appendAddress(dst []byte, h uint64) []byte {
	dst = append(dst, `{"street":"`...)
	dst = strconv.AppendInt(dst, int64(1+h%980), 10)
	dst = append(dst, ' ')
	dst = append(dst, streets[(h>>10)%uint64(len(streets))]...)
	dst = append(dst, `","city":"`...)
	dst = append(dst, cities[(h>>14)%uint64(len(cities))]...)
	dst = append(dst, `","postal_code":"`...)
	dst = strconv.AppendInt(dst, int64(10000+(h>>20)%89999), 10)
	return append(dst, `","country":"US"}`...)
}

// appendCustomer appends a customer record with personal data.
func appendCustomer(dst []byte, id int64) []byte {
	h := mix(uint64(id))
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"name":"`...)
	dst = append(dst, firstNames[h%uint64(len(firstNames))]...)
	dst = append(dst, ' ')
	dst = append(dst, lastNames[(h>>8)%uint64(len(lastNames))]...)
	dst = append(dst, `","email":"`...)
	dst = customerEmail(dst, id)
	dst = append(dst, `","phone":"+1-`...)
	dst = strconv.AppendInt(dst, int64(201+(h>>24)%700), 10)
	dst = append(dst, "-555-0"...)
	dst = strconv.AppendInt(dst, int64(100+(h>>32)%899), 10)
	dst = append(dst, `","birthdate":"`...)
	dst = strconv.AppendInt(dst, int64(1950+(h>>40)%55), 10)
	dst = append(dst, '-', byte('0'+(h>>46)%1), byte('1'+(h>>47)%9), '-', byte('1'+(h>>52)%2), byte('0'+(h>>54)%9), '"')
	dst = append(dst, `,"address":`...)
	dst = appendAddress(dst, h>>3)
	dst = append(dst, `,"tier":"`...)
	dst = append(dst, []string{"standard", "standard", "silver", "gold"}[(h>>58)%4]...)
	dst = append(dst, `","created_at":"20`...)
	dst = strconv.AppendInt(dst, int64(18+(h>>60)%7), 10)
	return append(dst, `-04-01T10:00:00Z"}`...)
}

// Orders: customer c owns orders orderBase + c*8 + k for k < ordersOf(c).
const orderBase = 500000

func ordersOf(cust int64) int { return 1 + int(mix(uint64(cust)^0xabc)%6) }

func orderID(cust int64, k int) int64 { return orderBase + cust*8 + int64(k) }

func orderOwner(id int64) (cust int64, ok bool) {
	if id < orderBase {
		return 0, false
	}
	c, k := (id-orderBase)/8, int((id-orderBase)%8)
	return c, k < ordersOf(c)
}

func appendOrder(dst []byte, id int64, withAddress bool) []byte {
	cust, _ := orderOwner(id)
	h := mix(uint64(id) ^ 0x5eed)
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"customer_id":`...)
	dst = strconv.AppendInt(dst, cust, 10)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, orderState[h%uint64(len(orderState))]...)
	dst = append(dst, `","currency":"USD","items":[`...)
	n := 1 + int(h>>8)%3
	total := int64(0)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		sku := 1 + int64((h>>(12+4*i))%2000)
		price := productPrice(sku)
		qty := 1 + int64((h>>(20+3*i))%3)
		total += price * qty
		dst = append(dst, `{"sku":"`...)
		dst = appendSKU(dst, sku)
		dst = append(dst, `","qty":`...)
		dst = strconv.AppendInt(dst, qty, 10)
		dst = append(dst, `,"unit_price":`...)
		dst = appendCents(dst, price)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"total":`...)
	dst = appendCents(dst, total)
	dst = append(dst, `,"card_last4":"`...)
	dst = strconv.AppendInt(dst, int64(1000+(h>>40)%8999), 10)
	dst = append(dst, '"')
	if withAddress {
		dst = append(dst, `,"ship_to":{"name":"`...)
		ch := mix(uint64(cust))
		dst = append(dst, firstNames[ch%uint64(len(firstNames))]...)
		dst = append(dst, ' ')
		dst = append(dst, lastNames[(ch>>8)%uint64(len(lastNames))]...)
		dst = append(dst, `","email":"`...)
		dst = customerEmail(dst, cust)
		dst = append(dst, `","address":`...)
		dst = appendAddress(dst, ch>>3)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func appendSKU(dst []byte, sku int64) []byte {
	dst = append(dst, "SKU-"...)
	s := strconv.FormatInt(sku, 10)
	for range 5 - len(s) {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func productPrice(sku int64) int64 { return 199 + int64(mix(uint64(sku)^0x77)%25000) }

func appendCents(dst []byte, c int64) []byte {
	dst = strconv.AppendInt(dst, c/100, 10)
	dst = append(dst, '.')
	if c%100 < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, c%100, 10)
}

func appendProduct(dst []byte, sku int64) []byte {
	h := mix(uint64(sku) ^ 0x99)
	dst = append(dst, `{"sku":"`...)
	dst = appendSKU(dst, sku)
	dst = append(dst, `","name":"`...)
	dst = append(dst, []string{"Classic", "Pro", "Eco", "Mini", "Ultra", "Travel"}[h%6]...)
	dst = append(dst, ' ')
	dst = append(dst, words[(h>>4)%uint64(len(words))]...)
	dst = append(dst, `","price":`...)
	dst = appendCents(dst, productPrice(sku))
	dst = append(dst, `,"stock":`...)
	dst = strconv.AppendInt(dst, int64((h>>12)%500), 10)
	dst = append(dst, `,"rating":`...)
	dst = strconv.AppendInt(dst, int64(1+(h>>20)%5), 10)
	return append(dst, '}')
}

// Credentials.

// Fingerprint reduces a credential to the contract's principal form:
// scheme + ":" + the first 8 hex digits of SHA-256(value).
func Fingerprint(scheme, value string) string {
	s := sha256.Sum256([]byte(value))
	return scheme + ":" + hex.EncodeToString(s[:4])
}

var b64 = base64.RawURLEncoding

// makeJWT returns an HS256-shaped JWT for sub (the signature is random-looking
// bytes derived from the seed, never verified by anyone).
func makeJWT(sub string, iat int64, seed uint64) string {
	hdr := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT","kid":"k1"}`))
	p := []byte(`{"sub":"`)
	p = append(p, sub...)
	p = append(p, `","iss":"https://auth.example.com/","aud":"api.example.com","scope":"orders:read orders:write profile","iat":`...)
	p = strconv.AppendInt(p, iat, 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, iat+30*86400, 10)
	p = append(p, '}')
	var sig [32]byte
	for i := 0; i < 32; i += 8 {
		v := mix(seed + uint64(i))
		for j := range 8 {
			sig[i+j] = byte(v >> (8 * j))
		}
	}
	return hdr + "." + b64.EncodeToString(p) + "." + b64.EncodeToString(sig[:])
}

// randToken returns prefix + n characters from alphabet, derived from seed.
func randToken(prefix string, n int, seed uint64, alphabet string) string {
	b := []byte(prefix)
	x := seed
	for range n {
		x = mix(x + 0x9e3779b97f4a7c15)
		b = append(b, alphabet[x%uint64(len(alphabet))])
	}
	if n == 36 && len(prefix) == 4 && (prefix[:2] == "gh" || prefix == "npm_") && prefix[3] == '_' {
		// GitHub's and npm's tokens end with a checksum: the CRC-32 of the
		// 30 random characters, in base62, padded to 6.
		const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		v := crc32.ChecksumIEEE(b[4:34])
		for i := 39; i >= 34; i-- {
			b[i] = base62[v%62]
			v /= 62
		}
	}
	return string(b)
}

const (
	alnum    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexChars = "0123456789abcdef"
	upperNum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)
