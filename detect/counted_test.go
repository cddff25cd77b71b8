package detect

import "testing"

func TestCounted(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{counted(0, "request"), "0 requests"},
		{counted(1, "client"), "1 client"},
		{counted(2, "client"), "2 clients"},
		{counted(uint32(1), "failure"), "1 failure"},
		{counted(int64(12), "known network"), "12 known networks"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
