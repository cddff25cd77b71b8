package detect

import (
	"slices"
	"testing"
)

func TestClassifyBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty", ``, []string{}},
		{"plain json", `{"id":42,"name":"widget","price":19.99}`, []string{}},
		{"email", `{"user":{"email":"alice@example.com"}}`, []string{"email"}},
		{"at sign without domain", `{"handle":"@alice","note":"x@y"}`, []string{}},
		{"phone by key", `{"phone":"+1 (415) 555-0100"}`, []string{"phone"}},
		{"digits under another key are no phone", `{"order":"+1 (415) 555-0100"}`, []string{}},
		{"visa luhn-valid", `{"pan":"4111 1111 1111 1111"}`, []string{"card"}},
		{"mastercard dashed", `{"pan":"5555-5555-5555-4444"}`, []string{"card"}},
		{"amex", `{"pan":"378282246310005"}`, []string{"card"}},
		{"visa luhn-invalid", `{"pan":"4111 1111 1111 1112"}`, []string{}},
		{"luhn-valid but no issuer prefix", `{"n":"1234567812345670"}`, []string{}},
		{"timestamp in ms is no card", `{"ts":1732623600000}`, []string{}},
		{"iban valid", `{"iban":"GB82WEST12345698765432"}`, []string{"iban"}},
		{"iban valid DE", `{"acct":"DE89370400440532013000"}`, []string{"iban"}},
		{"iban bad checksum", `{"iban":"GB82WEST12345698765433"}`, []string{}},
		{"upper-case token is no iban", `{"sku":"AB12CDEFGHIJKLMNOP"}`, []string{}},
		{"ssn", `{"ssn":"123-45-6789"}`, []string{"ssn"}},
		{"ssn without dashes", `{"ssn":"123456789"}`, []string{"ssn"}},
		{"ssn area 000", `{"ssn":"000-45-6789"}`, []string{}},
		{"ssn area 666", `{"ssn":"666-45-6789"}`, []string{}},
		{"ssn area 9xx", `{"ssn":"912-45-6789"}`, []string{}},
		{"ssn group 00", `{"ssn":"123-00-6789"}`, []string{}},
		{"ssn serial 0000", `{"ssn":"123-45-0000"}`, []string{}},
		{"ssn-shaped under another key", `{"zip":"123-45-6789"}`, []string{}},
		{"secret aws key", `{"k":"AKIAIOSFODNN7EXAMPLE"}`, []string{"secret"}},
		{"private key", "-----BEGIN RSA PRIVATE KEY-----\nMIIE", []string{"secret"}},
		{"several", `{"email":"a@b.co","ssn":"123-45-6789","card":"4242424242424242"}`, []string{"email", "card", "ssn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyBody([]byte(tc.body)).names(); !slices.Equal(got, tc.want) {
				t.Errorf("classifyBody(%s) = %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

func TestIsCardIsIBAN(t *testing.T) {
	for s, want := range map[string]bool{
		"4242424242424242": true, "4242424242424241": false, "6011111111111117": true,
		"3530111333300000": true, "411111111111": false /* 12 digits */, "41111111111111111111": false, /* 20 */
	} {
		if got := isCard([]byte(s)); got != want {
			t.Errorf("isCard(%s) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{
		"GB82WEST12345698765432": true, "FR1420041010050500013M02606": true, "NL91ABNA0417164300": true,
		"GB82WEST1234569876543": false, "gb82west12345698765432": false, "GB82": false,
	} {
		if got := isIBAN([]byte(s)); got != want {
			t.Errorf("isIBAN(%s) = %v, want %v", s, got, want)
		}
	}
}
