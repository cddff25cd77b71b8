package detect

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
)

// The secret and personal-data scanner. One pass over a buffer finds the
// places where a keyword occurs (a token prefix such as "ghp_", or a JSON
// key such as `phone"`), and each keyword's validator then reads the value
// there by hand: charset, length, boundaries, checksums where the format has
// one. There are no regular expressions on this path.
//
// The keyword pass tests the pairs of bytes at even offsets against a table
// of the pairs of the keywords' anchors (three bytes of each keyword, chosen
// rare in JSON) and the pairs with an '@', one byte per pair: most positions
// of a JSON body fail it, which costs a load. A pair that passes has its anchor's
// three bytes tested against a second bitmap (for a pair without an '@',
// that test is read from the pair's descriptor, which holds its answer for
// every byte before and after the pair), and a position that passes
// both is compared with the few keywords that can start at the offsets where
// their anchors begin with that pair (a table built once: eight bytes at a
// time, under a mask). The keyword set is prefix-free, so at most one
// matches. E-mail addresses have no keyword; they are found from each '@'.

// dataType is what a finding is: a secret format or a personal data type.
type dataType uint8

const (
	dtNone dataType = iota
	// Secrets.
	dtHuggingFace
	dtAWSAccessKey
	dtAWSSecretKey
	dtGitHub
	dtGitLab
	dtStripeLive
	dtStripeTest
	dtStripeWebhook
	dtSlackToken
	dtSlackWebhook
	dtGoogleAPIKey
	dtOpenAI
	dtAnthropic
	dtJWT
	dtPrivateKey
	dtTwilio
	dtSendGrid
	dtNPM
	dtPyPI
	dtAzureStorage
	dtDatadog
	dtShopify
	dtDigitalOcean
	dtPostman
	dtLinear
	// Personal data.
	dtEmail
	dtPhone
	dtCard
	dtIBAN
	dtSSN
	dtAddress
	dtBirthdate
	dtCount
)

// dataInfo describes each dataType: its name in alerts, its title for
// people, its sensitive bit and, for secrets, the alert severity.
var dataInfo = [dtCount]struct {
	name, title string
	bit         sensitiveSet
	severity    string
}{
	dtHuggingFace:   {"huggingface_token", "Hugging Face token", sensSecret, SeverityHigh},
	dtAWSAccessKey:  {"aws_access_key", "AWS access key", sensSecret, SeverityCritical},
	dtAWSSecretKey:  {"aws_secret_key", "AWS secret access key", sensSecret, SeverityCritical},
	dtGitHub:        {"github_token", "GitHub token", sensSecret, SeverityHigh},
	dtGitLab:        {"gitlab_token", "GitLab token", sensSecret, SeverityHigh},
	dtStripeLive:    {"stripe_live_key", "Stripe live secret key", sensSecret, SeverityCritical},
	dtStripeTest:    {"stripe_test_key", "Stripe test secret key", sensSecret, SeverityMedium},
	dtStripeWebhook: {"stripe_webhook_secret", "Stripe webhook signing secret", sensSecret, SeverityHigh},
	dtSlackToken:    {"slack_token", "Slack token", sensSecret, SeverityHigh},
	dtSlackWebhook:  {"slack_webhook", "Slack incoming webhook URL", sensSecret, SeverityMedium},
	dtGoogleAPIKey:  {"google_api_key", "Google API key", sensSecret, SeverityHigh},
	dtOpenAI:        {"openai_key", "OpenAI API key", sensSecret, SeverityHigh},
	dtAnthropic:     {"anthropic_key", "Anthropic API key", sensSecret, SeverityHigh},
	dtJWT:           {"jwt", "JSON Web Token", sensSecret, SeverityHigh},
	dtPrivateKey:    {"private_key", "private key", sensSecret, SeverityCritical},
	dtTwilio:        {"twilio_api_key", "Twilio API key", sensSecret, SeverityHigh},
	dtSendGrid:      {"sendgrid_api_key", "SendGrid API key", sensSecret, SeverityHigh},
	dtNPM:           {"npm_token", "npm access token", sensSecret, SeverityHigh},
	dtPyPI:          {"pypi_token", "PyPI upload token", sensSecret, SeverityHigh},
	dtAzureStorage:  {"azure_storage_key", "Azure storage account key", sensSecret, SeverityCritical},
	dtDatadog:       {"datadog_api_key", "Datadog API key", sensSecret, SeverityHigh},
	dtShopify:       {"shopify_token", "Shopify access token", sensSecret, SeverityHigh},
	dtDigitalOcean:  {"digitalocean_token", "DigitalOcean token", sensSecret, SeverityHigh},
	dtPostman:       {"postman_api_key", "Postman API key", sensSecret, SeverityHigh},
	dtLinear:        {"linear_api_key", "Linear API key", sensSecret, SeverityHigh},
	dtEmail:         {"email", "e-mail address", sensEmail, ""},
	dtPhone:         {"phone", "phone number", sensPhone, ""},
	dtCard:          {"card", "payment card number", sensCard, ""},
	dtIBAN:          {"iban", "IBAN", sensIBAN, ""},
	dtSSN:           {"ssn", "US social security number", sensSSN, ""},
	dtAddress:       {"address", "postal address", sensAddress, ""},
	dtBirthdate:     {"birthdate", "date of birth", sensBirthdate, ""},
}

func (t dataType) secret() bool   { return t > dtNone && t < dtEmail }
func (t dataType) personal() bool { return t >= dtEmail && t < dtCount }
func (t dataType) String() string {
	if t < dtCount {
		return dataInfo[t].name
	}
	return "unknown"
}

// finding is one secret or personal value found: its type and its span in
// the scanned buffer.
type finding struct {
	typ        dataType
	start, end int
}

// scanMode selects what a scan looks for.
type scanMode uint8

const (
	// scanSecrets looks for secrets other than JWTs.
	scanSecrets scanMode = 1 << iota
	// scanJWT looks for JWTs too (outside bodies, where issued tokens are
	// normal).
	scanJWT
	// scanPersonal looks for personal data.
	scanPersonal
	// scanLenient relaxes the checks that tell a real token from a look-
	// alike (checksums, exact lengths, documentation examples): for
	// redaction, where a false positive costs a REDACTED too many and a
	// false negative a secret in clear.
	scanLenient
)

const (
	// maxScanBytes bounds the bytes of one buffer a scan reads.
	maxScanBytes = 1 << 20
	// maxScanCandidates bounds the keyword occurrences validated per scan.
	maxScanCandidates = 4096
	// maxScanFindings bounds the findings returned per scan.
	maxScanFindings = 64
	// maxEmailCandidates bounds the '@' signs examined per scan.
	maxEmailCandidates = 1024
)

// checker names a keyword's validator.
type checker uint8

const (
	chkHF checker = iota + 1
	chkHFOrg
	chkAWSKeyID
	chkAWSSecretCtx
	chkGitHub
	chkGitHubPAT
	chkGitLab
	chkStripeLive
	chkStripeTest
	chkStripeWebhook
	chkSlackToken
	chkSlackWebhook
	chkGoogle
	chkOpenAI
	chkJWT
	chkPrivateKey
	chkTwilio
	chkSendGrid
	chkNPM
	chkPyPI
	chkAzure
	chkDatadog
	chkShopify
	chkDigitalOcean
	chkPostman
	chkLinear
	// Personal data, by JSON key.
	chkPhone
	chkCard
	chkIBAN
	chkSSN
	chkAddress
	chkBirth
)

// personalCheck reports whether a checker looks for personal data.
func (c checker) personal() bool { return c >= chkPhone }

// keywords are the literals the automaton finds and what validates the value
// at each. The set is prefix-free (no keyword starts another), so an
// anchored match names one keyword.
//
// The tables in front of the automaton test three bytes of each keyword,
// its anchor: the three least common in JSON (with an underscore, a capital
// or a rare letter rather than "the" or `e":`), marked lit[:i]+"|"+lit[i:]
// where they are not the first three.
var keywords = []struct {
	lit   string
	check checker
}{
	{"hf_", chkHF}, {"api_o|rg_", chkHFOrg},
	{"AKIA", chkAWSKeyID}, {"ASIA", chkAWSKeyID},
	{"aws_secret_access_key", chkAWSSecretCtx}, {"AWS_SECRET_ACCESS_KEY", chkAWSSecretCtx},
	{"Secre|tAccessKey", chkAWSSecretCtx}, {"secre|tAccessKey", chkAWSSecretCtx}, {"aws_secret_key", chkAWSSecretCtx},
	{"ghp_", chkGitHub}, {"gho_", chkGitHub}, {"ghu_", chkGitHub}, {"ghs_", chkGitHub}, {"ghr_", chkGitHub},
	{"gith|ub_pat_", chkGitHubPAT},
	{"glpat-", chkGitLab}, {"gl|dt-", chkGitLab}, {"glrt-", chkGitLab}, {"glptt-", chkGitLab},
	{"sk_live_", chkStripeLive}, {"rk_live_", chkStripeLive},
	{"sk_test_", chkStripeTest}, {"rk_test_", chkStripeTest},
	{"whsec_", chkStripeWebhook},
	{"xoxb-", chkSlackToken}, {"xoxp-", chkSlackToken}, {"xoxa-", chkSlackToken}, {"xoxr-", chkSlackToken},
	{"xoxs-", chkSlackToken}, {"xoxe-", chkSlackToken}, {"xoxe.xoxp-", chkSlackToken},
	{"hoo|ks.slack.com", chkSlackWebhook},
	{"AIza", chkGoogle},
	{"sk-", chkOpenAI},
	{"eyJ", chkJWT},
	{"PRIVATE KEY-----", chkPrivateKey},
	{"SK", chkTwilio}, // anchored on SK and a lower-case hex digit
	{"SG.", chkSendGrid},
	{"npm_", chkNPM},
	{"pypi|-AgE", chkPyPI},
	{"Accoun|tKey=", chkAzure},
	{"DD_API_KEY", chkDatadog}, {"dd_ap|i_key", chkDatadog}, {"DD-API-KEY", chkDatadog}, {"dd-ap|i-key", chkDatadog},
	{"data|dog_api_key", chkDatadog}, {"DATADOG_API_KEY", chkDatadog}, {"datado|gApiKey", chkDatadog},
	{"shpat_", chkShopify}, {"shpca_", chkShopify}, {"shppa_", chkShopify}, {"shpss_", chkShopify},
	{"dop|_v1_", chkDigitalOcean}, {"doo|_v1_", chkDigitalOcean}, {"dor|_v1_", chkDigitalOcean},
	{"PMAK-", chkPostman},
	{"lin_a|pi_", chkLinear},

	// JSON keys of personal data; the key's closing quote is part of the
	// keyword so that "phone" and "home_phone" match but "phones_count"
	// does not.
	{`phone"`, chkPhone}, {`Phone"`, chkPhone}, {`m|obile"`, chkPhone}, {`Mobile"`, chkPhone},
	{`tele|phone"`, chkPhone}, {`Tele|phone"`, chkPhone}, {`"msi|sdn"`, chkPhone},
	{`c|ard"`, chkCard}, {`C|ard"`, chkCard}, {`c|ard_number"`, chkCard}, {`c|ardNumber"`, chkCard}, {`C|ardNumber"`, chkCard},
	{`c|ard_no"`, chkCard}, {`"|cc_number"`, chkCard}, {`"|ccNumber"`, chkCard}, {`"|ccnum"`, chkCard},
	{`iban"`, chkIBAN}, {`IBAN"`, chkIBAN}, {`Iban"`, chkIBAN},
	{`ssn"`, chkSSN}, {`SSN"`, chkSSN}, {`Ssn"`, chkSSN}, {`social_securit|y_number"`, chkSSN}, {`socia|lSecurityNumber"`, chkSSN},
	{`a|ddress"`, chkAddress}, {`A|ddress"`, chkAddress}, {`a|ddress_line1"`, chkAddress}, {`a|ddressLine1"`, chkAddress},
	{`birthdate"`, chkBirth}, {`Birthdate"`, chkBirth}, {`birth_date"`, chkBirth}, {`birthDate"`, chkBirth}, {`BirthDate"`, chkBirth},
	{`date_o|f_birth"`, chkBirth}, {`dateO|fBirth"`, chkBirth}, {`DateO|fBirth"`, chkBirth}, {`"|dob"`, chkBirth}, {`"|DOB"`, chkBirth},
	{`birthday"`, chkBirth}, {`Birthday"`, chkBirth},
}

// scanner finds secrets and personal data. It is immutable once built and
// safe for concurrent use.
type scanner struct {
	// pairs holds the first two and the last two bytes of the keywords'
	// anchors and the pairs with an '@', indexed by b[i] | b[i+1]<<8: 1
	// for those, 0 for the others. A byte per pair rather than a bit
	// makes the test a single load (the pairs met in text touch a few
	// hundred of its cache lines).
	//
	// The value is not just 1: it names the pair's entry in descs, where
	// the three-byte tests of the anchors at j-1 and at j (pair at j) are
	// answered exactly for every byte before and after the pair (0: the
	// pair is not in the set; pairHashed: a pair with an '@', whose tests
	// are the hashed ones).
	pairs [1 << 16]uint8
	// third holds the anchors' three bytes, hashed into 65536 bits (tri).
	third [1 << 10]uint64
	// descs are the pairs' answers to the three-byte tests (pairs).
	descs []pairDesc
	// anchorOf holds, for each anchor's first two bytes (b[i] |
	// b[i+1]<<8), its index in anchors (0: no anchor begins so).
	anchorOf [1 << 16]uint8
	anchors  []anchorSet
	// kws are the keywords, by index in keywords.
	kws []keyword
}

// pairHashed marks, in scanner.pairs, the pairs with an '@': their
// three-byte tests are computed (tri), not looked up.
const pairHashed = 255

// pairDesc answers the three-byte tests for one pair (c1, c2) at j: bit x
// of before is whether tri(x, c1, c2) is in third (the test of an anchor
// at j-1 where b[j-1] is x), bit y of after whether tri(c1, c2, y) is (the
// test of an anchor at j where b[j+2] is y).
type pairDesc struct {
	before, after [4]uint64
}

// anchorSet is what the anchors that begin with one pair of bytes tell: the
// offsets at which they lie in the keywords that have them and, for each of
// those offsets o, the keywords that can start o bytes before the pair (all
// those whose bytes at o and o+1, where they have them, are the pair's).
type anchorSet struct {
	offsets uint16
	cands   [16][]candidate
}

// candidate is a keyword of an anchorSet: its first bytes and their mask
// (keyword.head and mask, copied so that the tests read one array), its
// length and its index in scanner.kws.
type candidate struct {
	head, mask uint64
	n, k       int
}

// keyword is one keyword and its first bytes in a form compared eight at a
// time: head holds up to eight of them (little-endian), mask their bits.
type keyword struct {
	lit        string
	head, mask uint64
	check      checker
}

// tri hashes three bytes into 16 bits.
func tri(a, b, c byte) uint {
	return uint((uint32(a)|uint32(b)<<8|uint32(c)<<16)*0x9E3779B1) >> 16
}

func setBit(set *[1 << 10]uint64, v uint) { set[v>>6] |= 1 << (v & 63) }

func newScanner() *scanner {
	sc := &scanner{kws: make([]keyword, len(keywords))}
	offsets := map[uint]uint16{} // by anchor pair
	for i, k := range keywords {
		lit, off, _ := strings.Cut(k.lit, "|")
		if off == "" {
			off = lit
			lit = ""
		}
		o := len(lit)
		lit += off
		kw := keyword{lit: lit, check: k.check}
		for j := min(len(lit), 8) - 1; j >= 0; j-- {
			kw.head = kw.head<<8 | uint64(lit[j])
			kw.mask = kw.mask<<8 | 0xff
		}
		sc.kws[i] = kw
		if lit == "SK" { // Twilio: SK and a lower-case hex digit
			for _, c := range []byte("0123456789abcdef") {
				setBit(&sc.third, tri('S', 'K', c))
			}
			for _, c := range []byte("0123456789abcdef") {
				sc.pairs[uint('K')|uint(c)<<8] = 1
			}
			lit = "SK0"
		} else if o > 15 || o+3 > len(lit) {
			panic("detect: keyword anchor out of range: " + k.lit)
		} else {
			setBit(&sc.third, tri(lit[o], lit[o+1], lit[o+2]))
		}
		v := uint(lit[o]) | uint(lit[o+1])<<8
		sc.pairs[v] = 1
		// E-mail addresses: an '@' in either byte of a pair.
		for c := range 256 {
			sc.pairs['@'|c<<8] = 1
			sc.pairs[c|'@'<<8] = 1
		}
		sc.pairs[uint(lit[o+1])|uint(lit[o+2])<<8] = 1
		offsets[v] |= 1 << o
	}
	for i, a := range sc.kws {
		for j, b := range sc.kws {
			if i != j && strings.HasPrefix(b.lit, a.lit) {
				panic("detect: keyword " + a.lit + " is a prefix of " + b.lit) // keywordAt takes the one match
			}
		}
	}
	sc.buildDescs()
	// Anchor sets in the order of their pairs, so that the scanner is
	// built the same every time.
	pairs := make([]uint, 0, len(offsets))
	for v := range offsets {
		pairs = append(pairs, v)
	}
	slices.Sort(pairs)
	sc.anchors = make([]anchorSet, 1, len(pairs)+1) // 0: none
	for _, v := range pairs {
		a := anchorSet{offsets: offsets[v]}
		for offs := a.offsets; offs != 0; offs &= offs - 1 {
			o := bits.TrailingZeros16(offs)
			for k, kw := range sc.kws {
				if (o >= len(kw.lit) || kw.lit[o] == byte(v)) && (o+1 >= len(kw.lit) || kw.lit[o+1] == byte(v>>8)) {
					a.cands[o] = append(a.cands[o], candidate{kw.head, kw.mask, len(kw.lit), k})
				}
			}
		}
		if len(sc.anchors) > 255 {
			panic("detect: too many keyword anchors") // anchorOf holds uint8
		}
		sc.anchorOf[v] = uint8(len(sc.anchors))
		sc.anchors = append(sc.anchors, a)
	}
	return sc
}

// buildDescs turns the set of pairs (1 in pairs) into indices of their
// descriptors: pairHashed for those with an '@', an index in descs for the
// others (pairs with the same answers share one).
func (sc *scanner) buildDescs() {
	has := func(a, b, c byte) bool {
		h := tri(a, b, c)
		return sc.third[h>>6]>>(h&63)&1 != 0
	}
	sc.descs = make([]pairDesc, 1) // 0: not a pair of the set
	index := map[pairDesc]uint8{}
	for v := range 1 << 16 {
		if sc.pairs[v] == 0 {
			continue
		}
		c1, c2 := byte(v), byte(v>>8)
		if c1 == '@' || c2 == '@' {
			sc.pairs[v] = pairHashed
			continue
		}
		var d pairDesc
		for x := range 256 {
			if has(byte(x), c1, c2) {
				d.before[x>>6] |= 1 << (x & 63)
			}
			if has(c1, c2, byte(x)) {
				d.after[x>>6] |= 1 << (x & 63)
			}
		}
		k, ok := index[d]
		if !ok {
			if len(sc.descs) >= pairHashed {
				panic("detect: too many pair descriptors") // pairs holds uint8
			}
			k = uint8(len(sc.descs))
			index[d] = k
			sc.descs = append(sc.descs, d)
		}
		sc.pairs[v] = k
	}
}

// theScanner is built once; it is never modified.
var theScanner = newScanner()

// scan appends to out what b holds of the kinds mode asks for, at most
// maxScanFindings, and returns out. It allocates nothing when out has room
// (and nothing at all when there is no finding).
//
// The pass reads thirty-two or sixteen bytes at a time and tests the pairs
// at even offsets against a set of pairs: the first two and the last two
// bytes of every keyword's anchor (an anchor at p shows its first pair at p
// when p is even, its last pair at p+1 when p is odd, so every anchor is
// seen with half the lookups), and every pair with an '@' (e-mail
// addresses). Blocks whose pairs all fail are skipped in a loop of their
// own; in the others the pairs' table entries, a byte each, say which
// passed.
func (sc *scanner) scan(b []byte, mode scanMode, out []finding) []finding {
	if len(b) > maxScanBytes {
		b = b[:maxScanBytes]
	}
	n := len(b)
	if n < 3 {
		return out
	}
	var st scanState
	st.b, st.mode, st.out, st.base = b, mode, out, len(out)
	pairs := &sc.pairs
	personal := mode&scanPersonal != 0
	le := binary.LittleEndian
	i := 0
	for i < n-1 {
		// Whether any pair of a block is in the set first (the common
		// answer is no), two blocks at a time; then which.
	skip:
		for {
			if i+32 <= n {
				q := (*[32]byte)(b[i : i+32]) // one bounds check for the blocks
				lo := pairs[le.Uint16(q[0:])] | pairs[le.Uint16(q[2:])] | pairs[le.Uint16(q[4:])] | pairs[le.Uint16(q[6:])] |
					pairs[le.Uint16(q[8:])] | pairs[le.Uint16(q[10:])] | pairs[le.Uint16(q[12:])] | pairs[le.Uint16(q[14:])]
				hi := pairs[le.Uint16(q[16:])] | pairs[le.Uint16(q[18:])] | pairs[le.Uint16(q[20:])] | pairs[le.Uint16(q[22:])] |
					pairs[le.Uint16(q[24:])] | pairs[le.Uint16(q[26:])] | pairs[le.Uint16(q[28:])] | pairs[le.Uint16(q[30:])]
				if lo|hi == 0 {
					i += 32
					continue
				}
				if lo == 0 {
					i += 16
				}
				break skip
			}
			if i+16 <= n {
				q := (*[16]byte)(b[i : i+16])
				if pairs[le.Uint16(q[0:])]|pairs[le.Uint16(q[2:])]|pairs[le.Uint16(q[4:])]|pairs[le.Uint16(q[6:])]|
					pairs[le.Uint16(q[8:])]|pairs[le.Uint16(q[10:])]|pairs[le.Uint16(q[12:])]|pairs[le.Uint16(q[14:])] == 0 {
					i += 16
				}
			}
			break
		}
		if i >= n-1 {
			break
		}
		// One byte of w per pair (its descriptor), from the block's
		// first.
		var w uint64
		width := 16
		if i+16 <= n {
			q := (*[16]byte)(b[i : i+16])
			w = uint64(pairs[le.Uint16(q[0:])]) | uint64(pairs[le.Uint16(q[2:])])<<8 |
				uint64(pairs[le.Uint16(q[4:])])<<16 | uint64(pairs[le.Uint16(q[6:])])<<24 |
				uint64(pairs[le.Uint16(q[8:])])<<32 | uint64(pairs[le.Uint16(q[10:])])<<40 |
				uint64(pairs[le.Uint16(q[12:])])<<48 | uint64(pairs[le.Uint16(q[14:])])<<56
		} else {
			for k := 0; i+k+1 < n && k < 16; k += 2 {
				w |= uint64(pairs[uint(b[i+k])|uint(b[i+k+1])<<8]) << (k * 4)
			}
			if w == 0 {
				break
			}
		}
		hit := nonzeroBytes(w)
		next := i + width
		for ; hit != 0; hit &= hit - 1 {
			// Bit 8k+7 of hit: the pair at offset 2k.
			tz := uint(bits.TrailingZeros64(hit))
			j := i + int(tz>>3<<1)
			// The three-byte tests of an anchor at j-1 and at j, looked
			// up in the pair's descriptor (hashed for a pair with an
			// '@'): most pairs fail both. The pair's descriptor index is
			// its byte of w.
			var at uint64
			if k := uint8(w >> (tz & 56)); k != pairHashed {
				d := &sc.descs[k]
				if j > 0 {
					x := b[j-1]
					at = d.before[x>>6] >> (x & 63) & 1
				}
				if j+2 < n {
					y := b[j+2]
					at |= (d.after[y>>6] >> (y & 63) & 1) << 1
				}
				if at == 0 {
					continue
				}
			} else {
				if j > 0 {
					h := tri(b[j-1], b[j], b[j+1])
					at = sc.third[h>>6] >> (h & 63) & 1
				}
				if j+2 < n {
					h := tri(b[j], b[j+1], b[j+2])
					at |= (sc.third[h>>6] >> (h & 63) & 1) << 1
				}
				if at == 0 && !personal {
					continue
				}
			}
			e, stop := sc.pairAt(&st, j, at)
			if stop {
				return st.done()
			}
			if e > next {
				next = e // the value is consumed; no keyword inside it
				break
			}
		}
		i = next
	}
	return st.done()
}

// nonzeroBytes returns the top bit of each byte of w that is not zero.
func nonzeroBytes(w uint64) uint64 {
	const lo7, hi = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	return ((w & lo7) + lo7 | w) & hi
}

// scanState is one scan under way.
type scanState struct {
	b                 []byte
	mode              scanMode
	out               []finding
	base              int // len(out) when the scan began
	candidates, mails int
}

func (st *scanState) done() []finding {
	return st.out[:min(len(st.out), st.base+maxScanFindings)]
}

// pairAt examines the pair at j: an '@' at j or j+1, and the anchors at
// j-1 and at j whose three-byte tests passed (bits 0 and 1 of at). It
// returns the end of the last finding (0 if none) and whether the scan must
// stop (a bound is reached).
func (sc *scanner) pairAt(st *scanState, j int, at uint64) (int, bool) {
	b := st.b
	end := 0
	// The pair was read whole: j+1 < len(b).
	if st.mode&scanPersonal != 0 && (b[j] == '@' || b[j+1] == '@') {
		for q := j; q <= j+1; q++ {
			if b[q] != '@' {
				continue
			}
			if st.mails++; st.mails > maxEmailCandidates || len(st.out)-st.base >= maxScanFindings {
				return end, true
			}
			if s, e := emailAround(b, q); e > 0 {
				st.out = append(st.out, finding{dtEmail, s, e})
				end = e
			}
		}
	}
	for ; at != 0; at &= at - 1 {
		p := j - 1 + bits.TrailingZeros64(at)
		if st.candidates++; st.candidates > maxScanCandidates || len(st.out)-st.base >= maxScanFindings {
			return end, true
		}
		var e int
		st.out, e = sc.keywordAt(b, p, st.mode, st.out)
		end = max(end, e)
	}
	return end, false
}

// keywordAt validates the keywords whose anchor is at p, appends what it
// finds and returns where the finding ends (0 without one). For each offset
// an anchor beginning with b[p:p+2] has in its keywords, smallest first, it
// validates the keyword that starts that many bytes before p, if one does.
func (sc *scanner) keywordAt(b []byte, p int, mode scanMode, out []finding) ([]finding, int) {
	a := &sc.anchors[sc.anchorOf[uint(b[p])|uint(b[p+1])<<8]]
	for offs := a.offsets; offs != 0; offs &= offs - 1 {
		o := bits.TrailingZeros16(offs)
		at := p - o
		if at < 0 {
			continue
		}
		k := sc.keywordStarting(b[at:], a.cands[o])
		if k < 0 {
			continue
		}
		kw := &sc.kws[k]
		chk := kw.check
		if chk.personal() {
			if mode&scanPersonal == 0 {
				continue
			}
		} else if mode&(scanSecrets|scanJWT) == 0 || (chk == chkJWT && mode&scanJWT == 0) {
			continue
		}
		before := len(out)
		out = check(chk, b, at, at+len(kw.lit), mode&scanLenient != 0, out)
		if len(out) > before {
			return out, out[len(out)-1].end
		}
	}
	return out, 0
}

// keywordStarting returns the index of the keyword among cands that b
// starts with, or -1 (there is at most one: no keyword starts another).
func (sc *scanner) keywordStarting(b []byte, cands []candidate) int {
	var w uint64
	if len(b) >= 8 {
		w = binary.LittleEndian.Uint64(b)
	} else {
		for i := len(b) - 1; i >= 0; i-- {
			w = w<<8 | uint64(b[i])
		}
	}
	for i := range cands {
		c := &cands[i]
		if w&c.mask != c.head || len(b) < c.n {
			continue
		}
		if c.n <= 8 || string(b[8:c.n]) == sc.kws[c.k].lit[8:] {
			return c.k
		}
	}
	return -1
}

// check runs the validator of one keyword occurrence, b[at:end] being the
// keyword, and appends what it finds.
func check(c checker, b []byte, at, end int, lenient bool, out []finding) []finding {
	var t dataType
	s, e := at, 0
	if lenient {
		switch c {
		case chkHF, chkHFOrg:
			t, e = dtHuggingFace, tokenAfter(b, at, end, 30, 64, isAlnum, false)
		case chkAWSKeyID:
			t, e = dtAWSAccessKey, tokenAfter(b, at, end, 16, 16, isAlnum, false)
		case chkGitHub:
			t, e = dtGitHub, tokenAfter(b, at, end, 30, 255, isAlnum, false)
		case chkNPM:
			t, e = dtNPM, tokenAfter(b, at, end, 30, 64, isAlnum, false)
		}
		if e > s {
			return append(out, finding{t, s, e})
		}
	}
	switch c {
	case chkHF:
		t, e = dtHuggingFace, tokenAfter(b, at, end, 34, 34, isAlnum, true)
	case chkHFOrg:
		t, e = dtHuggingFace, tokenAfter(b, at, end, 34, 34, isAlnum, true)
	case chkAWSKeyID:
		if t, e = dtAWSAccessKey, tokenAfter(b, at, end, 16, 16, isBase32Upper, false); e > 0 {
			if isAWSExample(b[at:e]) {
				return out
			}
			out = append(out, finding{t, s, e})
			// The secret key that goes with it, when it is near.
			if ss, se := awsSecretNear(b, at, e); se > 0 {
				out = append(out, finding{dtAWSSecretKey, ss, se})
			}
			return out
		}
	case chkAWSSecretCtx:
		t = dtAWSSecretKey
		s, e = awsSecretAfter(b, end)
	case chkGitHub:
		if t, e = dtGitHub, tokenAfter(b, at, end, 36, 36, isAlnum, false); e > 0 && !base62CRCValid(b[end:e]) {
			e = 0
		}
	case chkGitHubPAT:
		t, e = dtGitHub, githubPATEnd(b, at, end)
	case chkGitLab:
		t, e = dtGitLab, tokenAfter(b, at, end, 20, 300, isGitLabChar, true)
	case chkStripeLive:
		t, e = dtStripeLive, tokenAfter(b, at, end, 24, 247, isAlnum, true)
	case chkStripeTest:
		t, e = dtStripeTest, tokenAfter(b, at, end, 24, 247, isAlnum, true)
	case chkStripeWebhook:
		t, e = dtStripeWebhook, tokenAfter(b, at, end, 32, 64, isAlnum, true)
	case chkSlackToken:
		t, e = dtSlackToken, slackTokenEnd(b, at, end)
	case chkSlackWebhook:
		t, s, e = dtSlackWebhook, at, slackWebhookEnd(b, end)
	case chkGoogle:
		t, e = dtGoogleAPIKey, tokenAfter(b, at, end, 35, 35, isB64URL, false)
	case chkOpenAI:
		t, e = openAIOrAnthropic(b, at, end)
	case chkJWT:
		t, e = dtJWT, jwtEnd(b, at)
	case chkPrivateKey:
		t = dtPrivateKey
		s, e = privateKeySpan(b, at, end)
	case chkTwilio:
		t, e = dtTwilio, tokenAfter(b, at, end, 32, 32, isLowerHex, false)
	case chkSendGrid:
		t, e = dtSendGrid, sendGridEnd(b, at, end)
	case chkNPM:
		if t, e = dtNPM, tokenAfter(b, at, end, 36, 36, isAlnum, false); e > 0 && !base62CRCValid(b[end:e]) {
			e = 0
		}
	case chkPyPI:
		t, e = dtPyPI, pypiEnd(b, at, end)
	case chkAzure:
		t = dtAzureStorage
		s, e = azureKeySpan(b, end)
	case chkDatadog:
		t = dtDatadog
		s, e = hexValueAfterKey(b, end, 32)
	case chkShopify:
		t, e = dtShopify, tokenAfter(b, at, end, 32, 32, isLowerHex, false)
	case chkDigitalOcean:
		t, e = dtDigitalOcean, tokenAfter(b, at, end, 64, 64, isLowerHex, false)
	case chkPostman:
		t, e = dtPostman, postmanEnd(b, at, end)
	case chkLinear:
		t, e = dtLinear, tokenAfter(b, at, end, 40, 40, isAlnum, true)
	case chkPhone:
		t = dtPhone
		s, e = phoneValue(b, end)
	case chkCard:
		t = dtCard
		s, e = cardValue(b, end)
	case chkIBAN:
		t = dtIBAN
		s, e = ibanValue(b, end)
	case chkSSN:
		t = dtSSN
		s, e = ssnValue(b, end)
	case chkAddress:
		t = dtAddress
		s, e = addressValue(b, at, end)
	case chkBirth:
		t = dtBirthdate
		s, e = birthValue(b, end)
	}
	if e > s && t != dtNone {
		out = append(out, finding{t, s, e})
	}
	return out
}

// Character classes.

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
func isB64URL(c byte) bool     { return isAlnum(c) || c == '-' || c == '_' }
func isB64(c byte) bool        { return isAlnum(c) || c == '+' || c == '/' }
func isGitLabChar(c byte) bool { return isB64URL(c) || c == '.' }
func isLowerHex(c byte) bool   { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isBase32Upper(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '2' && c <= '7'
}

// tokenAfter checks a token made of a keyword and a run of class characters
// of length min..max, with no token character just before the keyword nor
// just after the run. It returns the token's end, or 0. mixed asks for both
// an upper-case and a lower-case letter or a digit in the run (random
// tokens have them; identifiers and words rarely do).
func tokenAfter(b []byte, at, end, min, max int, class func(byte) bool, mixed bool) int {
	if at > 0 && isAlnum(b[at-1]) {
		return 0
	}
	j := end
	for j < len(b) && j-end <= max && class(b[j]) {
		j++
	}
	n := j - end
	if n < min || n > max {
		return 0
	}
	if j < len(b) && (isAlnum(b[j]) || class(b[j])) {
		return 0
	}
	if mixed && !randomLooking(b[end:j]) {
		return 0
	}
	return j
}

// randomLooking reports whether a run mixes character kinds the way random
// tokens do: at least two of upper case, lower case and digits, and no
// character repeated six times in a row.
func randomLooking(s []byte) bool {
	var up, lo, dg bool
	run := 1
	for i, c := range s {
		switch {
		case c >= 'A' && c <= 'Z':
			up = true
		case c >= 'a' && c <= 'z':
			lo = true
		case c >= '0' && c <= '9':
			dg = true
		}
		if i > 0 && s[i-1] == c {
			if run++; run >= 6 {
				return false
			}
		} else {
			run = 1
		}
	}
	kinds := 0
	for _, k := range []bool{up, lo, dg} {
		if k {
			kinds++
		}
	}
	return kinds >= 2
}
