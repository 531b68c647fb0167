package cursor

import "testing"

func TestRoundTrip(t *testing.T) {
	type key struct {
		At string `json:"a"`
		ID string `json:"i"`
	}
	c := Encode(key{"2026-11-22T10:00:00Z", "01abc"})
	var got key
	ok, err := Decode(c, &got)
	if !ok || err != nil || got.ID != "01abc" {
		t.Fatalf("got %v %v %+v", ok, err, got)
	}
	if ok, err := Decode("", &got); ok || err != nil {
		t.Fatalf("empty cursor: got %v %v, want false nil", ok, err)
	}
	for _, bad := range []string{"!!", "bm90IGpzb24"} {
		if _, err := Decode(bad, &got); err != ErrInvalid {
			t.Errorf("Decode(%q): got %v, want ErrInvalid", bad, err)
		}
	}
}

func TestParseLimit(t *testing.T) {
	cases := map[string]int{"": DefaultLimit, "1": 1, "200": 200}
	for in, want := range cases {
		if got, err := ParseLimit(in); err != nil || got != want {
			t.Errorf("ParseLimit(%q): got %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"0", "201", "-1", "ten", "1.5"} {
		if _, err := ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q): got no error", bad)
		}
	}
}
