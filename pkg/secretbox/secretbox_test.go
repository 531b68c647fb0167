package secretbox

import (
	"bytes"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal([]byte("wechat-app-secret"), []byte("tenant-a"))
	if bytes.Contains([]byte(sealed), []byte("wechat")) {
		t.Fatal("the sealed text shows the secret")
	}
	got, err := b.Open(sealed, []byte("tenant-a"))
	if err != nil || string(got) != "wechat-app-secret" {
		t.Fatalf("got %q, %v; want the secret", got, err)
	}
	if _, err := b.Open(sealed, []byte("tenant-b")); err == nil {
		t.Fatal("a secret sealed for tenant A opened for tenant B")
	}
	if one, two := b.Seal([]byte("x"), nil), b.Seal([]byte("x"), nil); one == two {
		t.Fatal("two seals of one secret are equal; the nonce is not random")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, []byte("tenant-a")); err == nil {
		t.Fatal("another key opened the secret")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
	for _, bad := range []string{"", "!!!", "c2hvcnQ="} {
		if _, err := b.Open(bad, nil); err == nil {
			t.Errorf("Open(%q): got no error", bad)
		}
	}
}
