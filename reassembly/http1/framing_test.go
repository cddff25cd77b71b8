package http1

import "testing"

// TestFramingField: framingField names exactly the fields asciiEqualFold
// matches, in any case, and nothing else (same length, other bytes).
func TestFramingField(t *testing.T) {
	canon := map[string]framing{
		"Content-Length":    fieldContentLength,
		"Transfer-Encoding": fieldTransferEncoding,
		"Content-Encoding":  fieldContentEncoding,
		"Content-Type":      fieldContentType,
		"Upgrade":           fieldUpgrade,
	}
	names := []string{"", "C", "Host", "Accept", "content-length", "CONTENT-LENGTH", "cOnTeNt-TyPe",
		"transfer-encoding", "TRANSFER-ENCODING", "content-encoding", "upgrade", "UPGRADE",
		"Content-Lengthx", "Content-Lengt", "Content_Length", "Content-Langth", "Content-Typf",
		"Upgrad", "Upgrades", "Xpgrade", "Content\rLength", "Transfer-Encodinh", "Content-Encodinf",
		"Cache-Control", "Connection", "Content-Range", "Trailer", "User-Agent", "\x03ontent-Type",
		"Kontent-Length", "Tontent-Length", "\x15pgrade", "\x14ransfer-Encoding"}
	for c := range canon {
		// Every byte flipped in case or replaced must still be judged as
		// asciiEqualFold judges it.
		for i := 0; i < len(c); i++ {
			for _, b := range []byte{c[i] ^ 0x20, c[i] + 1, c[i] - 1, 0, 0xff} {
				n := []byte(c)
				n[i] = b
				names = append(names, string(n))
			}
		}
		names = append(names, c)
	}
	for _, n := range names {
		want := fieldOther
		for c, f := range canon {
			if asciiEqualFold(n, c) {
				want = f
			}
		}
		if got := framingField(n); got != want {
			t.Errorf("framingField(%q) = %d, want %d", n, got, want)
		}
	}
}

// TestTargetOK: targetOK agrees with the byte-by-byte rule for every byte
// value at every position of targets of several lengths.
func TestTargetOK(t *testing.T) {
	slow := func(b []byte) bool {
		for _, c := range b {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := []byte("/api/v2/users?id=1&x=yz!")[:n]
				b = append([]byte(nil), b...)
				b[pos] = byte(c)
				if got, want := targetOK(b), slow(b); got != want {
					t.Fatalf("targetOK(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	// Several odd bytes in one word.
	for _, s := range []string{"/a\tb\tc\td", "/\x7f\x7f\x7f\x7f\x7f\x7f\x7f", "\x1f\x20\x7e\x7f\x80\xff/abcd", "/aaaaaaa\x00", "\t\t\t\t\t\t\t\t\t"} {
		if got, want := targetOK([]byte(s)), slow([]byte(s)); got != want {
			t.Errorf("targetOK(%q) = %v, want %v", s, got, want)
		}
	}
}
