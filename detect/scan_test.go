package detect

import (
	"encoding/base64"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/coregx/ahocorasick"
)

// Test tokens: shaped like the real ones (random characters, valid
// checksums), never real. Built once from a fixed seed.
var (
	tokRand = rand.New(rand.NewPCG(6, 6))

	hfTok        = "hf_" + randAlnum(34)
	hfOrgTok     = "api_org_" + randAlnum(34)
	awsKeyID     = "AKIAQ3EGRUL4VKZ5T6WM"
	awsTempKeyID = "ASIAY7MZ2QW3ER4TT5YU"
	awsSecret    = randFrom(40, alnum62+"/+")
	ghTok        = githubToken("ghp_")
	ghOAuthTok   = githubToken("gho_")
	ghPAT        = "github_pat_" + randAlnum(22) + "_" + randAlnum(59)
	glTok        = "glpat-" + randAlnum(20)
	stripeKey    = "sk_live_" + randAlnum(24)
	stripeRKey   = "rk_live_" + randAlnum(40)
	stripeTest   = "sk_test_" + randAlnum(24)
	stripeWH     = "whsec_" + randAlnum(32)
	slackTok     = "xoxb-123456789012-1234567890123-" + randAlnum(24)
	slackUserTok = "xoxp-123456789012-123456789012-123456789012-" + randFrom(32, "0123456789abcdef")
	slackHook    = "hooks.slack.com/services/T0123ABCD/B0456EFGH/" + randAlnum(24)
	googleKey    = "AIza" + randFrom(35, alnum62+"-_")
	openAIProj   = "sk-proj-" + randFrom(80, alnum62+"-_")
	openAILegacy = "sk-" + randAlnum(20) + "T3BlbkFJ" + randAlnum(20)
	anthropicKey = "sk-ant-api03-" + randFrom(93, alnum62+"-_") + "AA"
	jwtTok       = makeJWT(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"user-123","iat":1732623600}`, randFrom(43, alnum62+"-_"))
	privKey      = "-----BEGIN RSA PRIVATE KEY-----\n" + randFrom(64, alnum62+"+/") + "\n" + randFrom(64, alnum62+"+/") + "\n" + randFrom(20, alnum62+"+/") + "=\n-----END RSA PRIVATE KEY-----"
	twilioKey    = "SK" + randFrom(32, "0123456789abcdef")
	sendgridKey  = "SG." + randFrom(22, alnum62+"-_") + "." + randFrom(43, alnum62+"-_")
	npmTok       = githubToken("npm_")
	pypiTok      = "pypi-AgEIcHlwaS5vcmc" + randFrom(120, alnum62+"-_")
	azureKey     = base64.StdEncoding.EncodeToString([]byte(randFrom(64, alnum62)))
	datadogKey   = randFrom(32, "0123456789abcdef")
	shopifyTok   = "shpat_" + randFrom(32, "0123456789abcdef")
	doTok        = "dop_v1_" + randFrom(64, "0123456789abcdef")
	postmanKey   = "PMAK-" + randFrom(24, "0123456789abcdef") + "-" + randFrom(34, "0123456789abcdef")
	linearKey    = "lin_api_" + randAlnum(40)
)

const alnum62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randFrom(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[tokRand.IntN(len(alphabet))]
	}
	return string(b)
}

func randAlnum(n int) string { return randFrom(n, alnum62) }

// githubToken returns a token of GitHub's (or npm's) format with a valid
// checksum.
func githubToken(prefix string) string {
	body := randAlnum(30)
	return prefix + body + base62CRC([]byte(body))
}

func makeJWT(header, payload, sig string) string {
	e := base64.RawURLEncoding
	return e.EncodeToString([]byte(header)) + "." + e.EncodeToString([]byte(payload)) + "." + sig
}

// luhnComplete appends the Luhn check digit to a number.
func luhnComplete(s string) string {
	for c := byte('0'); c <= '9'; c++ {
		d := []byte(s + string(c))
		for i := range d {
			d[i] -= '0'
		}
		if luhn(d) {
			return s + string(c)
		}
	}
	panic("unreachable")
}

// scanTypes returns the names of the types found in s, in order.
func scanTypes(s string, mode scanMode) []string {
	out := []string{}
	for _, f := range theScanner.scan([]byte(s), mode, nil) {
		out = append(out, f.typ.String())
	}
	return out
}

// TestScanSecrets has a true- and false-positive vector for every secret
// format.
func TestScanSecrets(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		// Hugging Face.
		{"hf token", "token=" + hfTok, []string{"huggingface_token"}},
		{"hf org token", `{"t":"` + hfOrgTok + `"}`, []string{"huggingface_token"}},
		{"hf lower-case word run", "hf_" + strings.Repeat("abcdefgh", 4) + "ab", nil},
		{"hf too long", hfTok + "X", nil},
		{"hf inside an identifier", "xhf_" + hfTok[3:], nil},
		{"hf short", "hf_short", nil},
		// AWS.
		{"aws key id", "id " + awsKeyID + " ", []string{"aws_access_key"}},
		{"aws temporary key id", awsTempKeyID, []string{"aws_access_key"}},
		{"aws key id and secret near", "aws_access_key_id=" + awsKeyID + " aws_secret_access_key=" + awsSecret, []string{"aws_access_key", "aws_secret_key"}},
		{"aws secret by its key name", `{"SecretAccessKey": "` + awsSecret + `"}`, []string{"aws_secret_key"}},
		{"aws documentation example", "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", nil},
		{"aws id with non-base32 characters", "AKIA0123456789ABCDEF", nil},
		{"aws id too short", "AKIAQ3EGRUL4VKZ5T6W", nil},
		{"aws secret name with hex value", "aws_secret_access_key=" + strings.Repeat("0f3a", 10), nil},
		// GitHub.
		{"github classic with checksum", "ref=" + ghTok, []string{"github_token"}},
		{"github oauth with checksum", ghOAuthTok, []string{"github_token"}},
		{"github bad checksum", "ghp_" + randAlnum(36), nil},
		{"github hex-looking", "ghp_0123456789abcdef0123456789abcdef0123", nil},
		{"github fine-grained", ghPAT, []string{"github_token"}},
		{"github fine-grained wrong shape", "github_pat_" + randAlnum(40), nil},
		// GitLab.
		{"gitlab pat", "PRIVATE=" + glTok, []string{"gitlab_token"}},
		{"gitlab placeholder", "glpat-xxxxxxxxxxxxxxxxxxxx", nil},
		// Stripe.
		{"stripe live", stripeKey, []string{"stripe_live_key"}},
		{"stripe restricted live", stripeRKey, []string{"stripe_live_key"}},
		{"stripe test", stripeTest, []string{"stripe_test_key"}},
		{"stripe webhook secret", stripeWH, []string{"stripe_webhook_secret"}},
		{"stripe placeholder", "sk_live_" + strings.Repeat("x", 24), nil},
		{"stripe inside a word", "task_live_" + randAlnum(24), nil},
		{"stripe publishable key", "pk_live_" + randAlnum(24), nil},
		// Slack.
		{"slack bot token", slackTok, []string{"slack_token"}},
		{"slack user token", slackUserTok, []string{"slack_token"}},
		{"slack-ish words", "xoxb-not-a-real-token-at-all-nope", nil},
		{"slack webhook", "https://" + slackHook, []string{"slack_webhook"}},
		{"slack webhook, escaped slashes", `"https:\/\/` + strings.ReplaceAll(slackHook, "/", `\/`) + `"`, []string{"slack_webhook"}},
		{"slack api docs url", "https://hooks.slack.com/services/", nil},
		// Google.
		{"google api key", "k=" + googleKey, []string{"google_api_key"}},
		{"google key one short", googleKey[:38], nil},
		// OpenAI and Anthropic.
		{"openai project key", openAIProj, []string{"openai_key"}},
		{"openai legacy key", openAILegacy, []string{"openai_key"}},
		{"openai legacy shape without marker", "sk-" + randAlnum(48), nil},
		{"anthropic key", anthropicKey, []string{"anthropic_key"}},
		{"anthropic shape without AA", anthropicKey[:len(anthropicKey)-2] + "xy", nil},
		{"sk- in prose", "desk-lamp sk-short task-" + randAlnum(48), nil},
		// JWT (outside bodies).
		{"jwt", "/cb/" + jwtTok, []string{"jwt"}},
		{"jwt header without alg", makeJWT(`{"typ":"JWT"}`, `{"sub":"1"}`, randAlnum(43)), nil},
		{"jwt payload not json", makeJWT(`{"alg":"HS256"}`, `sub=1`, randAlnum(43)), nil},
		{"jwt without signature", makeJWT(`{"alg":"HS256"}`, `{"sub":"1"}`, ""), nil},
		{"unsigned jwt with alg none", makeJWT(`{"alg":"none"}`, `{"sub":"1"}`, ""), []string{"jwt"}},
		{"base64 json alone", "eyJhbGciOiJIUzI1NiJ9", nil},
		// Private keys.
		{"pem private key", privKey, []string{"private_key"}},
		{"pem in json with escaped newlines", `{"key":"` + strings.ReplaceAll(privKey, "\n", `\n`) + `"}`, []string{"private_key"}},
		{"pem placeholder", "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----", nil},
		{"pem public key", "-----BEGIN PUBLIC KEY-----\n" + randFrom(200, alnum62) + "\n-----END PUBLIC KEY-----", nil},
		{"private key words", "store the PRIVATE KEY----- safely", nil},
		// Twilio, SendGrid, npm, PyPI.
		{"twilio api key", "sid=" + twilioKey, []string{"twilio_api_key"}},
		{"twilio upper-case hex", "SK" + strings.ToUpper(twilioKey[2:]), nil},
		{"sku code", `{"sku":"SKU-00042","SKtype":"a"}`, nil},
		{"sendgrid key", sendgridKey, []string{"sendgrid_api_key"}},
		{"sendgrid wrong shape", "SG." + randAlnum(30), nil},
		{"npm token", "//registry.npmjs.org/:_authToken=" + npmTok, []string{"npm_token"}},
		{"npm bad checksum", "npm_" + randAlnum(36), nil},
		{"pypi token", pypiTok, []string{"pypi_token"}},
		{"pypi other macaroon", "pypi-AgEIxyz" + randAlnum(60), nil},
		// Azure, Datadog, Shopify, DigitalOcean, Postman, Linear.
		{"azure storage key", "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + azureKey + ";EndpointSuffix=core.windows.net", []string{"azure_storage_key"}},
		{"azure zero key", "AccountKey=" + strings.Repeat("A", 86) + "==", nil},
		{"azure placeholder", "AccountKey=<your-key>", nil},
		{"datadog key", "DD_API_KEY=" + datadogKey, []string{"datadog_api_key"}},
		{"datadog key in json", `{"datadog_api_key": "` + datadogKey + `"}`, []string{"datadog_api_key"}},
		{"datadog uuid", `{"dd_api_key":"550e8400-e29b-41d4-a716-446655440000"}`, nil},
		{"shopify token", shopifyTok, []string{"shopify_token"}},
		{"shopify short", shopifyTok[:37], nil},
		{"digitalocean token", doTok, []string{"digitalocean_token"}},
		{"digitalocean short", doTok[:70], nil},
		{"postman key", postmanKey, []string{"postman_api_key"}},
		{"postman wrong shape", "PMAK-" + randAlnum(40), nil},
		{"linear key", linearKey, []string{"linear_api_key"}},
		{"linear placeholder", "lin_api_" + strings.Repeat("x", 40), nil},
		// Things that look like keys and are not.
		{"random hex", strings.Repeat("9f86d081884c7d659a2feaa0c55ad015", 2), nil},
		{"uuids", "550e8400-e29b-41d4-a716-446655440000 123e4567-e89b-12d3-a456-426614174000", nil},
		{"base64 blob", base64.StdEncoding.EncodeToString([]byte(randFrom(300, alnum62))), nil},
		{"timestamps", `{"ts":1732623600000,"at":"2026-11-26T12:00:00.123Z"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanTypes(tc.in, scanSecrets|scanJWT)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("scan(%q) = %q, want %q", tc.in, got, want)
			}
		})
	}
}

// TestScanSpans: the span of a finding is the secret, no more.
func TestScanSpans(t *testing.T) {
	for _, tok := range []string{hfTok, awsKeyID, ghTok, ghPAT, glTok, stripeKey, stripeWH, slackTok, googleKey, openAIProj,
		openAILegacy, anthropicKey, jwtTok, twilioKey, sendgridKey, npmTok, pypiTok, shopifyTok, doTok, postmanKey, linearKey} {
		in := `{"note":"see ` + tok + ` here"}`
		fs := theScanner.scan([]byte(in), scanSecrets|scanJWT, nil)
		if len(fs) != 1 || in[fs[0].start:fs[0].end] != tok {
			t.Errorf("%s: findings %+v", tok[:6], fs)
		}
	}
}

// TestScanModes: JWTs only when asked (they are normal in bodies), personal
// data only when asked.
func TestScanModes(t *testing.T) {
	in := `{"token":"` + jwtTok + `","email":"ann@mail.example","k":"` + ghTok + `"}`
	for _, tc := range []struct {
		mode scanMode
		want []string
	}{
		{scanSecrets, []string{"github_token"}},
		{scanSecrets | scanJWT, []string{"jwt", "github_token"}},
		{scanPersonal, []string{"email"}},
		{scanPersonal | scanSecrets, []string{"email", "github_token"}},
	} {
		if got := scanTypes(in, tc.mode); !slices.Equal(got, tc.want) {
			t.Errorf("mode %b: %q, want %q", tc.mode, got, tc.want)
		}
	}
}

// TestScanPersonal has true- and false-positive vectors for every personal
// data type.
func TestScanPersonal(t *testing.T) {
	visa := luhnComplete("453201511283036")
	mc := luhnComplete("537562846103728")
	amex := luhnComplete("34987654321012")
	tests := []struct {
		name, in string
		want     []string
	}{
		// E-mail.
		{"email", `{"email":"ann.lee+news@mail.example.org"}`, []string{"email"}},
		{"email in text", `contact Bob.Smith@corp.example.com today`, []string{"email"}},
		{"retina image name", `{"icon":"logo@2x.png"}`, nil},
		{"handle", `{"handle":"@alice","note":"x@y"}`, nil},
		{"package version", `{"dep":"react@18.2.0"}`, nil},
		{"no tld", `{"u":"root@localhost"}`, nil},
		// Phone.
		{"phone", `{"phone":"+1 (415) 555-0100"}`, []string{"phone"}},
		{"phone suffix key", `{"home_phone":"+44 20 7946 0958"}`, []string{"phone"}},
		{"mobile number value", `{"mobile": 14155550100}`, []string{"phone"}},
		{"phone date", `{"phone":"2024-11-26"}`, nil},
		{"phone zeros", `{"phone":"0000000000"}`, nil},
		{"phone text", `{"phone":"n/a"}`, nil},
		{"phone too short", `{"phone":"12345"}`, nil},
		{"phone-like id under another key", `{"order_ref":"+1 415 555 0100"}`, nil},
		{"phones count", `{"phones_count":"4155550100"}`, nil},
		// Card.
		{"visa", `{"card_number":"` + visa + `"}`, []string{"card"}},
		{"mastercard spaced", `{"card":"` + mc[:4] + " " + mc[4:8] + " " + mc[8:12] + " " + mc[12:] + `"}`, []string{"card"}},
		{"amex number value", `{"cc_number":` + amex + `}`, []string{"card"}},
		{"documentation test visa", `{"card_number":"4111 1111 1111 1111"}`, nil},
		{"documentation test stripe", `{"card":"4242424242424242"}`, nil},
		{"luhn invalid", `{"card":"` + visa[:15] + string('0'+(visa[15]-'0'+1)%10) + `"}`, nil},
		{"no issuer prefix", `{"card":"` + luhnComplete("123456781234567") + `"}`, nil},
		{"timestamp under card key", `{"card":1732623600000}`, nil},
		{"card number under another key", `{"id":"` + visa + `"}`, nil},
		{"last four only", `{"card_last4":"4242"}`, nil},
		// IBAN.
		{"iban", `{"iban":"DE89370400440532013000"}`, []string{"iban"}},
		{"iban grouped", `{"IBAN":"GB82 WEST 1234 5698 7654 32"}`, []string{"iban"}},
		{"iban bad checksum", `{"iban":"GB82WEST12345698765433"}`, nil},
		{"iban wrong length for country", `{"iban":"DE8937040044053201300"}`, nil},
		{"iban unknown country", `{"iban":"XX82WEST12345698765432"}`, nil},
		{"iban lower case", `{"iban":"gb82west12345698765432"}`, nil},
		{"iban shape under another key", `{"sku":"GB82WEST12345698765432"}`, nil},
		// SSN.
		{"ssn", `{"ssn":"536-22-8461"}`, []string{"ssn"}},
		{"ssn digits", `{"social_security_number":"536228461"}`, []string{"ssn"}},
		{"ssn area 000", `{"ssn":"000-22-8461"}`, nil},
		{"ssn area 666", `{"ssn":"666-22-8461"}`, nil},
		{"ssn area 9xx", `{"ssn":"936-22-8461"}`, nil},
		{"ssn group 00", `{"ssn":"536-00-8461"}`, nil},
		{"ssn serial 0000", `{"ssn":"536-22-0000"}`, nil},
		{"ssn placeholder", `{"ssn":"123-45-6789"}`, nil},
		{"ssn-shaped zip", `{"zip":"536-22-8461"}`, nil},
		{"ssn too long", `{"ssn":"536-22-84610"}`, nil},
		// Address.
		{"address object", `{"address":{"street":"12 Main St","city":"Springfield"}}`, []string{"address"}},
		{"shipping address string", `{"shipping_address":"221B Baker Street, London"}`, []string{"address"}},
		{"street member alone is not read", `{"street":"12 Main St"}`, nil},
		{"ip address", `{"ip_address":"10.0.0.1"}`, nil},
		{"email address key", `{"email_address":"12 Main St"}`, nil},
		{"wallet address", `{"address":"0x52908400098527886E0F7030069857D2E4169EE7"}`, nil},
		{"address null", `{"address":null}`, nil},
		{"address object of placeholders", `{"address":{"address1":"desk-347","city":"coffee-828","postalCode":"lamp-42"}}`, nil},
		{"address object without street", `{"address":{"city":"Springfield","country":"US"}}`, nil},
		// Birthdate.
		{"birthdate", `{"birthdate":"1987-06-15"}`, []string{"birthdate"}},
		{"date of birth european", `{"date_of_birth":"15/06/1987"}`, []string{"birthdate"}},
		{"dob timestamp", `{"dob":"1987-06-15T00:00:00Z"}`, []string{"birthdate"}},
		{"birthdate bad month", `{"birthdate":"1987-13-01"}`, nil},
		{"date under another key", `{"created_at":"1987-06-15"}`, nil},
		{"dob words", `{"dob":"yesterday"}`, nil},
		{"birthday reminder", `{"birthday_reminder":"1987-06-15"}`, nil},
		// Plain data.
		{"product", `{"sku":"SKU-00042","name":"Classic lamp","price":19.99,"stock":3}`, nil},
		{"uuids and hex", `{"id":"550e8400-e29b-41d4-a716-446655440000","etag":"9f86d081884c7d659a2feaa0c55ad015"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanTypes(tc.in, scanPersonal)
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("scan(%s) = %q, want %q", tc.in, got, want)
			}
		})
	}
}

// TestBase62CRC pins the checksum against tokens built independently of
// base62CRC: the CRC-32 of the body, in base62 (0-9A-Za-z), padded to 6.
func TestBase62CRC(t *testing.T) {
	// CRC-32 of 30 'a' is 0x6bc1d3c1 = 1807864769, whose base62 digits
	// are 1 60 21 38 13 11: "1yLcDB".
	body := strings.Repeat("a", 30)
	if got := base62CRC([]byte(body)); got != "1yLcDB" {
		t.Errorf("base62CRC = %q", got)
	}
	if !base62CRCValid([]byte(body+"1yLcDB")) || base62CRCValid([]byte(body+"1yLcDC")) {
		t.Error("base62CRCValid disagrees")
	}
}

// TestScanNoAllocs: scanning bodies without hits allocates nothing, nor
// does scanning into a buffer with room.
func TestScanNoAllocs(t *testing.T) {
	bodies := benchBodies(64, 0)
	buf := make([]finding, 0, maxScanFindings)
	allocs := testing.AllocsPerRun(20, func() {
		for _, b := range bodies {
			buf = theScanner.scan(b, scanSecrets|scanPersonal, buf[:0])
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocs per run over bodies without hits", allocs)
	}
	hit := []byte(`{"email":"ann@mail.example","k":"` + ghTok + `","token":"` + jwtTok + `"}`)
	allocs = testing.AllocsPerRun(20, func() { buf = theScanner.scan(hit, scanSecrets|scanPersonal|scanJWT, buf[:0]) })
	if allocs != 0 || len(buf) != 3 {
		t.Errorf("%.1f allocs, %d findings", allocs, len(buf))
	}
}

// refKeywords is the keyword automaton the scanner used before its keyword
// tables (github.com/coregx/ahocorasick, run anchored): the reference that
// keywordAt must agree with.
var refKeywords = func() *ahocorasick.Automaton {
	lits := make([][]byte, len(keywords))
	for i, k := range keywords {
		lits[i] = []byte(strings.Replace(k.lit, "|", "", 1))
	}
	ac, err := ahocorasick.NewBuilder().AddPatterns(lits).Build()
	if err != nil {
		panic(err)
	}
	return ac
}()

// refOffsets holds, for each anchor's first two bytes, its offsets in the
// keywords that have it; refMaxLen is the longest keyword's length.
var refOffsets, refMaxLen = func() (*[1 << 16]uint16, int) {
	var offsets [1 << 16]uint16
	maxLen := 0
	for _, k := range keywords {
		pre, anchor, _ := strings.Cut(k.lit, "|")
		if anchor == "" {
			pre, anchor = "", pre
		}
		offsets[uint(anchor[0])|uint(anchor[1])<<8] |= 1 << len(pre)
		maxLen = max(maxLen, len(pre)+len(anchor))
	}
	return &offsets, maxLen
}()

// refKeywordAt is keywordAt as it was, on the automaton.
func refKeywordAt(b []byte, p int, mode scanMode, out []finding) ([]finding, int) {
	offsets, maxLen := refOffsets, refMaxLen
	for offs := offsets[uint(b[p])|uint(b[p+1])<<8]; offs != 0; offs &= offs - 1 {
		at := p - bits.TrailingZeros16(offs)
		if at < 0 {
			continue
		}
		m, ok := refKeywords.FindAt(b[at:min(len(b), at+maxLen)], 0)
		if !ok {
			continue
		}
		chk := keywords[m.PatternID].check
		if chk.personal() {
			if mode&scanPersonal == 0 {
				continue
			}
		} else if mode&(scanSecrets|scanJWT) == 0 || (chk == chkJWT && mode&scanJWT == 0) {
			continue
		}
		before := len(out)
		out = check(chk, b, at+m.Start, at+m.End, mode&scanLenient != 0, out)
		if len(out) > before {
			return out, out[len(out)-1].end
		}
	}
	return out, 0
}

// keywordAtAgrees reports the first position of b where keywordAt and
// refKeywordAt differ, in any mode.
func keywordAtAgrees(b []byte) error {
	for _, mode := range []scanMode{scanSecrets, scanSecrets | scanJWT, scanPersonal, scanSecrets | scanPersonal | scanJWT, scanSecrets | scanLenient} {
		for p := 0; p+2 < len(b); p++ {
			got, ge := theScanner.keywordAt(b, p, mode, nil)
			want, we := refKeywordAt(b, p, mode, nil)
			if ge != we || !slices.Equal(got, want) {
				return fmt.Errorf("at %d of %q, mode %b: %v %d, want %v %d", p, b[max(0, p-20):min(len(b), p+40)], mode, got, ge, want, we)
			}
		}
	}
	return nil
}

// TestKeywordAtAgrees: the keyword tables find the keywords the automaton
// found, at every position of the bench bodies, of every test token in
// context and of random splices of keywords and their near misses.
func TestKeywordAtAgrees(t *testing.T) {
	in := [][]byte{}
	for _, b := range benchBodies(64, 50) {
		in = append(in, b)
	}
	toks := []string{hfTok, hfOrgTok, awsKeyID, awsTempKeyID, awsSecret, ghTok, ghOAuthTok, ghPAT, glTok, stripeKey, stripeRKey, stripeTest,
		stripeWH, slackTok, slackUserTok, slackHook, googleKey, openAIProj, openAILegacy, anthropicKey, jwtTok, privKey, twilioKey,
		sendgridKey, npmTok, pypiTok, azureKey, datadogKey, shopifyTok, doTok, postmanKey, linearKey}
	for _, tok := range toks {
		in = append(in, []byte(`{"k":"`+tok+`","x":1}`), []byte(tok), []byte("x"+tok[:len(tok)/2]))
	}
	r := rand.New(rand.NewPCG(9, 9))
	var parts []string
	for _, k := range keywords {
		lit := strings.Replace(k.lit, "|", "", 1)
		parts = append(parts, lit, lit[:len(lit)-1], lit[1:], strings.ToUpper(lit))
	}
	parts = append(parts, toks...)
	parts = append(parts, `"`, `":"`, " ", "_", "-", ".", "=", "@", "a", "Z", "0", "123-45-6789", "+1 415 555 0100", "@mail.example")
	for range 3000 {
		var b []byte
		for range 1 + r.IntN(8) {
			b = append(b, parts[r.IntN(len(parts))]...)
		}
		in = append(in, b)
	}
	for _, b := range in {
		if err := keywordAtAgrees(b); err != nil {
			t.Fatal(err)
		}
	}
}

// refPairs is the set of pairs the scan's first test passes, built from
// the keywords' definitions: each anchor's first two and last two bytes
// (Twilio's SK with any lower-case hex digit), and every pair with an '@'.
var refPairs = func() map[[2]byte]bool {
	m := map[[2]byte]bool{}
	for _, k := range keywords {
		pre, anchor, _ := strings.Cut(k.lit, "|")
		if anchor == "" {
			anchor = pre
		}
		if anchor == "SK" {
			m[[2]byte{'S', 'K'}] = true
			for _, c := range []byte("0123456789abcdef") {
				m[[2]byte{'K', c}] = true
			}
			continue
		}
		m[[2]byte{anchor[0], anchor[1]}] = true
		m[[2]byte{anchor[1], anchor[2]}] = true
	}
	for c := range 256 {
		m[[2]byte{'@', byte(c)}] = true
		m[[2]byte{byte(c), '@'}] = true
	}
	return m
}()

// refScan is the scan pass written plainly, one pair at a time: blocks of
// sixteen bytes from i, each pair at an even offset j of the block that is
// in refPairs examined by refPairAt in order, and the next block starting
// at the end of a finding that goes past the block (else at i+16).
func refScan(b []byte, mode scanMode, out []finding) []finding {
	if len(b) > maxScanBytes {
		b = b[:maxScanBytes]
	}
	st := scanState{b: b, mode: mode, out: out, base: len(out)}
	n := len(b)
	if n < 3 {
		return out
	}
	for i := 0; i < n-1; {
		next := i + 16
		for j := i; j < i+16 && j+1 < n; j += 2 {
			if !refPairs[[2]byte{b[j], b[j+1]}] {
				continue
			}
			e, stop := refPairAt(&st, j, i)
			if stop {
				return st.done()
			}
			if e > next {
				next = e
				break
			}
		}
		i = next
	}
	return st.done()
}

// refPairAt examines the pair at j (block start i) as pairAt did before
// the scan took its three-byte tests in line: an '@' at j or j+1, then an
// anchor at j-1 and at j (those within the buffer), each that passes the
// three-byte test counted as a candidate and validated by keywordAt.
func refPairAt(st *scanState, j, i int) (int, bool) {
	sc := theScanner
	b, n := st.b, len(st.b)
	end := 0
	if st.mode&scanPersonal != 0 {
		for q := j; q <= j+1 && q < n; q++ {
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
	for p := j - 1; p <= j; p++ {
		if p < i-1 || p < 0 || p+2 >= n {
			continue
		}
		if h := tri(b[p], b[p+1], b[p+2]); sc.third[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		if st.candidates++; st.candidates > maxScanCandidates || len(st.out)-st.base >= maxScanFindings {
			return end, true
		}
		var e int
		st.out, e = sc.keywordAt(b, p, st.mode, st.out)
		end = max(end, e)
	}
	return end, false
}

// scanAgrees reports the first mode in which scan and refScan differ on b.
func scanAgrees(b []byte) error {
	for _, mode := range []scanMode{scanSecrets, scanSecrets | scanJWT, scanPersonal, scanSecrets | scanPersonal, scanSecrets | scanPersonal | scanJWT | scanLenient} {
		got, want := theScanner.scan(b, mode, nil), refScan(b, mode, nil)
		if !slices.Equal(got, want) {
			return fmt.Errorf("%q, mode %b: %v, want %v", b[:min(len(b), 200)], mode, got, want)
		}
	}
	return nil
}

// TestScanAgrees: the scan's tables and block tests find what refScan
// finds, on the bench bodies, the test tokens in context, random splices
// of keywords, '@'s and near misses at every alignment, and inputs long
// enough to reach the scan's bounds.
func TestScanAgrees(t *testing.T) {
	var in [][]byte
	in = append(in, benchBodies(256, 30)...)
	toks := []string{hfTok, awsKeyID, awsSecret, ghTok, ghPAT, glTok, stripeKey, slackTok, slackHook, googleKey, openAIProj, openAILegacy,
		anthropicKey, jwtTok, privKey, twilioKey, sendgridKey, npmTok, pypiTok, azureKey, shopifyTok, doTok, postmanKey, linearKey}
	var parts []string
	for _, k := range keywords {
		lit := strings.Replace(k.lit, "|", "", 1)
		parts = append(parts, lit, lit[:len(lit)-1], lit[1:])
	}
	parts = append(parts, toks...)
	parts = append(parts, `"`, `":"`, " ", "_", "-", "@", "a", "0", "SKU-", "sku", "card_last4", "ann@mail.example", "+1 415 555 0100", `{"email":"bo@x.io"}`)
	r := rand.New(rand.NewPCG(7, 7))
	for range 4000 {
		var b []byte
		for range 1 + r.IntN(12) {
			b = append(b, parts[r.IntN(len(parts))]...)
		}
		in = append(in, b, append([]byte("x"), b...))
	}
	for _, size := range []int{5000, 70000} { // past maxScanCandidates, maxEmailCandidates, maxScanFindings
		var b []byte
		for len(b) < size {
			b = append(b, parts[r.IntN(len(parts))]...)
		}
		in = append(in, b)
	}
	for _, b := range in {
		if err := scanAgrees(b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPairDescs: the scanner's pair table and descriptors answer the
// three-byte tests exactly as the hashed bitmap does, for every pair of the
// set and every byte before and after it, and the pairs outside the set
// are those refPairs leaves out.
func TestPairDescs(t *testing.T) {
	sc := theScanner
	in := func(a, b, c byte) uint64 {
		h := tri(a, b, c)
		return sc.third[h>>6] >> (h & 63) & 1
	}
	for v := range 1 << 16 {
		c1, c2 := byte(v), byte(v>>8)
		k := sc.pairs[v]
		if (k != 0) != refPairs[[2]byte{c1, c2}] {
			t.Fatalf("pair %q: index %d, in refPairs %v", []byte{c1, c2}, k, refPairs[[2]byte{c1, c2}])
		}
		if (k == pairHashed) != (k != 0 && (c1 == '@' || c2 == '@')) {
			t.Fatalf("pair %q: index %d", []byte{c1, c2}, k)
		}
		if k == 0 || k == pairHashed {
			continue
		}
		d := &sc.descs[k]
		for x := range 256 {
			if got, want := d.before[x>>6]>>(x&63)&1, in(byte(x), c1, c2); got != want {
				t.Fatalf("pair %q, byte %q before: %d, want %d", []byte{c1, c2}, byte(x), got, want)
			}
			if got, want := d.after[x>>6]>>(x&63)&1, in(c1, c2, byte(x)); got != want {
				t.Fatalf("pair %q, byte %q after: %d, want %d", []byte{c1, c2}, byte(x), got, want)
			}
		}
	}
}
