package detect

import (
	"fmt"
	"testing"
)

func TestSlugNumberIDs(t *testing.T) {
	for seg, want := range map[string]bool{
		"coffee-83": true, "rug-39": true, "sha-256": false, "iso-8859-1": false, "summer-sale-2": true, "lamp-2": true, "utf-8": false, "a-1": false,
		"coffee-": false, "-83": false, "coffee-8a": false, "rate_limit": false, "x1-2": false,
	} {
		if got := isSlugNumber(seg); got != want {
			t.Errorf("isSlugNumber(%q) = %v", seg, got)
		}
	}
	e := mustEngine(t, Options{})
	for i := range 6 {
		e.Observe(tx(i, "GET", "h", fmt.Sprintf("/gists/%s-%d", []string{"coffee", "lamp", "summer-sale"}[i%3], i), 200))
	}
	if got := templates(e.Report(), "h"); len(got) != 1 || got[0] != "GET /gists/{gistId}" {
		t.Errorf("templates %q", got)
	}
}
