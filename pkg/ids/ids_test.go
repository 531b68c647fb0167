package ids

import (
	"testing"
	"time"
)

func TestNewIsSortableAndUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 1000; i++ {
		id := NewAt(base.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 || seen[id] {
			t.Fatalf("id %q: bad length or repeated", id)
		}
		if id <= prev {
			t.Fatalf("ids out of time order: %s after %s", id, prev)
		}
		seen[id], prev = true, id
	}
	same := base.Add(time.Hour)
	a, b := NewAt(same), NewAt(same)
	if b <= a {
		t.Fatalf("two ids of one millisecond out of order: %s then %s", a, b)
	}
	if a, b := Token(32), Token(32); a == b || len(a) != 52 {
		t.Fatalf("tokens: %q %q", a, b)
	}
}
