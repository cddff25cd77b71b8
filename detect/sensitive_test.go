package detect

import (
	"slices"
	"testing"
)

func TestClassifyBody(t *testing.T) {
	visa := luhnComplete("453201511283036")
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty", ``, []string{}},
		{"plain json", `{"id":42,"name":"widget","price":19.99}`, []string{}},
		{"email", `{"user":{"email":"alice@example.com"}}`, []string{"email"}},
		{"phone by key", `{"phone":"+1 (415) 555-0100"}`, []string{"phone"}},
		{"card by key", `{"cardNumber":"` + visa + `"}`, []string{"card"}},
		{"iban", `{"iban":"DE89370400440532013000"}`, []string{"iban"}},
		{"ssn", `{"ssn":"536-22-8461"}`, []string{"ssn"}},
		{"customer record", `{"name":"Ann Lee","email":"ann@mail.example","phone":"+1-415-555-0142","birthdate":"1987-06-15","address":{"street":"12 Main St","city":"Springfield"}}`,
			[]string{"email", "phone", "address", "birthdate"}},
		{"secret aws key", `{"k":"` + awsKeyID + `"}`, []string{"secret"}},
		{"issued jwt is no secret in a body", `{"access_token":"` + jwtTok + `"}`, []string{}},
		{"private key", privKey, []string{"secret"}},
		{"several", `{"email":"a@b.co","ssn":"536-22-8461","card_number":"` + visa + `"}`, []string{"email", "card", "ssn"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyBody([]byte(tc.body)).names(); !slices.Equal(got, tc.want) {
				t.Errorf("classifyBody(%s) = %q, want %q", tc.body, got, tc.want)
			}
			if got, want := classifyPersonal([]byte(tc.body)), classifyBody([]byte(tc.body))&^sensSecret; got != want {
				t.Errorf("classifyPersonal = %q, want %q", got.names(), want.names())
			}
		})
	}
}

func TestIsCardIsIBAN(t *testing.T) {
	for s, want := range map[string]bool{
		luhnComplete("453201511283036"): true, luhnComplete("601151234567890"): true, "6011000990139424": false /* documentation */, luhnComplete("353011133330001"): true,
		"4242424242424242": false /* documentation */, "4242424242424241": false, "411111111111": false, /* 12 digits */
		"41111111111111111111": false, /* 20 */
	} {
		if got := isCard([]byte(s)); got != want {
			t.Errorf("isCard(%s) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{
		"GB82WEST12345698765432": true, "FR1420041010050500013M02606": true, "NL91ABNA0417164300": true,
		"GB82 WEST 1234 5698 7654 32": true,
		"GB82WEST1234569876543":       false, "gb82west12345698765432": false, "GB82": false,
	} {
		if got := isIBAN([]byte(s)); got != want {
			t.Errorf("isIBAN(%s) = %v, want %v", s, got, want)
		}
	}
}
