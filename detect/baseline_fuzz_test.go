package detect

import (
	"encoding/base64"
	"testing"
)

// FuzzBehaviourState feeds arbitrary bytes to the behaviour state decoder:
// no panic, and what it accepts encodes again and decodes to the same.
func FuzzBehaviourState(f *testing.F) {
	s := newBsim(BehaviourOptions{})
	s.background(bday0, 1)
	if enc, err := s.b.marshalState(); err == nil {
		f.Add(enc)
	}
	empty, _ := newBehaviour(BehaviourOptions{}).marshalState()
	f.Add(empty)
	f.Add([]byte{behaviourStateVersion, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newBehaviour(BehaviourOptions{})
		if err := b.unmarshalState(data); err != nil {
			return
		}
		enc, err := b.marshalState()
		if err != nil {
			t.Fatal(err)
		}
		c := newBehaviour(BehaviourOptions{})
		if err := c.unmarshalState(enc); err != nil {
			t.Fatalf("re-encoded state rejected: %v", err)
		}
	})
}

// FuzzJWTSubject: the unverified JWT decoder never panics and finds only
// a top-level sub.
func FuzzJWTSubject(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, p := range []string{`{"sub":"usr_1"}`, `{"a":{"sub":"x"},"sub":"y"}`, `{"sub":1}`, `{"sub":"\"q"}`, `{`, `"sub"`} {
		f.Add(enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(p)) + ".sig")
	}
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		sub, ok := jwtSubject(tok)
		if ok && sub == "" {
			t.Fatalf("empty subject accepted from %q", tok)
		}
	})
}
