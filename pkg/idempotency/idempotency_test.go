package idempotency

import (
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	for _, ok := range []string{"a", "order-1001:pay", strings.Repeat("k", 255), "~ !"} {
		if err := ValidKey(ok); err != nil {
			t.Errorf("ValidKey(%q): got %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("k", 256), "tab\there", "订单", "nl\n"} {
		if err := ValidKey(bad); err == nil {
			t.Errorf("ValidKey(%q): got nil, want an error", bad)
		}
	}
}

func TestFingerprintSeparatesParts(t *testing.T) {
	if Fingerprint([]byte("ab"), []byte("c")) == Fingerprint([]byte("a"), []byte("bc")) {
		t.Fatal("moving bytes between parts kept the fingerprint")
	}
	first, second := Fingerprint([]byte("POST"), []byte(`{"a":1}`)), Fingerprint([]byte("POST"), []byte(`{"a":1}`))
	if first != second {
		t.Fatal("the same parts gave two fingerprints")
	}
}
