package rules

import (
	"encoding/json"
	"math"
)

// NormalizeAttributes returns a copy of an event's attributes in the types
// rules compute with: JSON numbers (json.Number, as decoded with UseNumber,
// or float64) that are whole become int64, so `amount_cents / 1000` is
// integer division, and the others become float64. Go integers of other
// sizes become int64. Nested objects and arrays are normalised too; other
// values are kept. A nil map gives an empty one.
func NormalizeAttributes(attrs map[string]any) map[string]any {
	out := make(map[string]any, len(attrs))
	for k, v := range attrs {
		out[k] = normalizeValue(v)
	}
	return out
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, err := x.Float64()
		if err != nil {
			// Out of float64's range: keep the text rather than invent a number.
			return x.String()
		}
		return normalizeFloat(f)
	case float64:
		return normalizeFloat(x)
	case float32:
		return normalizeFloat(float64(x))
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return normalizeUint(uint64(x))
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return normalizeUint(x)
	case map[string]any:
		return NormalizeAttributes(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	}
	return v
}

// normalizeFloat turns a whole number that int64 can hold into int64.
func normalizeFloat(f float64) any {
	// 2^63 is exactly representable; every float64 below it and at or above
	// -2^63 that has no fraction converts exactly.
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	return f
}

func normalizeUint(u uint64) any {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return float64(u)
}
