package rules

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeAttributes(t *testing.T) {
	decode := func(s string) map[string]any {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, c := range []struct {
		name string
		in   map[string]any
		want map[string]any
	}{
		{"integral JSON numbers become int64",
			decode(`{"amount_cents": 12800, "qty": -3, "big": 9007199254740993}`),
			map[string]any{"amount_cents": int64(12800), "qty": int64(-3), "big": int64(9007199254740993)}},
		{"fractions stay double, whole doubles become int64",
			decode(`{"rating": 4.5, "whole": 12.0, "exp": 1e3, "tiny": 1e-3}`),
			map[string]any{"rating": 4.5, "whole": int64(12), "exp": int64(1000), "tiny": 0.001}},
		{"too large for int64 stays double",
			decode(`{"huge": 1e20}`),
			map[string]any{"huge": 1e20}},
		{"nested objects and arrays",
			decode(`{"items": [{"sku": "A", "price_cents": 500}, 2.5, null, true], "meta": {"n": 1}}`),
			map[string]any{
				"items": []any{map[string]any{"sku": "A", "price_cents": int64(500)}, 2.5, nil, true},
				"meta":  map[string]any{"n": int64(1)},
			}},
		{"Go values",
			map[string]any{"i": 7, "u8": uint8(8), "u64": uint64(math.MaxUint64), "f": float64(3), "nan": math.Inf(1), "s": "x"},
			map[string]any{"i": int64(7), "u8": int64(8), "u64": float64(math.MaxUint64), "f": int64(3), "nan": math.Inf(1), "s": "x"}},
		{"nil", nil, map[string]any{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := NormalizeAttributes(c.in)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

func TestNormalizeAttributesCopies(t *testing.T) {
	in := map[string]any{"items": []any{json.Number("1")}}
	_ = NormalizeAttributes(in)
	if _, ok := in["items"].([]any)[0].(json.Number); !ok {
		t.Fatal("the input was changed")
	}
}
