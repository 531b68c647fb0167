package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"jifen/platform"
)

// Bounds of a rule's plain fields.
const (
	maxNameLength = 200
	maxPriority   = 1_000_000
)

// NullableTime is a time field of a request that can be left out (Set is
// false), cleared with null (Value is nil) or set to an RFC 3339 string.
type NullableTime struct {
	Set   bool
	Value *string
}

// UnmarshalJSON records that the field was present.
func (n *NullableTime) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n.Value = &s
	return nil
}

// LimitsInput are the limits of a request; a nil field is left as it is.
type LimitsInput struct {
	PerMemberPerDay   *int64 `json:"per_member_per_day"`
	PerMemberPerWeek  *int64 `json:"per_member_per_week"`
	PerMemberPerMonth *int64 `json:"per_member_per_month"`
	PerRulePerDay     *int64 `json:"per_rule_per_day"`
}

// RuleFields are the writable fields of a rule, as a PATCH body: a nil (or
// unset) field is left as it is.
type RuleFields struct {
	Name      *string      `json:"name"`
	Event     *string      `json:"event"`
	Condition *string      `json:"condition"`
	Points    *string      `json:"points"`
	Growth    *string      `json:"growth"`
	Limits    *LimitsInput `json:"limits"`
	Priority  *int         `json:"priority"`
	Exclusive *bool        `json:"exclusive"`
	Active    *bool        `json:"active"`
	StartsAt  NullableTime `json:"starts_at"`
	EndsAt    NullableTime `json:"ends_at"`

	// unknown lists the body's fields that a rule does not have.
	unknown []string
}

var ruleFieldNames = []string{"name", "event", "condition", "points", "growth", "limits",
	"priority", "exclusive", "active", "starts_at", "ends_at"}

// UnmarshalJSON decodes the fields and remembers unknown ones, so a typo
// such as "condtion" is refused instead of silently ignored.
func (f *RuleFields) UnmarshalJSON(b []byte) error {
	type plain RuleFields
	if err := decodeNumbers(b, (*plain)(f)); err != nil {
		return err
	}
	f.unknown = unknownFields(b, ruleFieldNames)
	return nil
}

// CreateRule is the body of POST /rules: a rule, or a template with its
// parameters (and optionally name, limits, priority, exclusive, active and
// the window, which override the template's).
type CreateRule struct {
	RuleFields
	Template string         `json:"template"`
	Params   map[string]any `json:"params"`
}

// UnmarshalJSON decodes a rule or a template request.
func (c *CreateRule) UnmarshalJSON(b []byte) error {
	var t struct {
		Template string         `json:"template"`
		Params   map[string]any `json:"params"`
	}
	if err := decodeNumbers(b, &t); err != nil {
		return err
	}
	if err := c.RuleFields.UnmarshalJSON(b); err != nil {
		return err
	}
	c.Template, c.Params = t.Template, t.Params
	c.unknown = unknownFields(b, append([]string{"template", "params"}, ruleFieldNames...))
	return nil
}

func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

func unknownFields(b []byte, known []string) []string {
	var keys map[string]json.RawMessage
	if json.Unmarshal(b, &keys) != nil {
		return nil
	}
	var out []string
	for k := range keys {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// apply sets the given fields on r, reporting bad values in fe.
func (f *RuleFields) apply(r *Rule, fe platform.FieldErrors) {
	for _, k := range f.unknown {
		fe.Add(k, "is not a field of a rule")
	}
	if f.Name != nil {
		r.Name = strings.TrimSpace(*f.Name)
	}
	if f.Event != nil {
		r.Event = strings.TrimSpace(*f.Event)
	}
	setExpr := func(dst *string, src *string, def string) {
		if src == nil {
			return
		}
		*dst = strings.TrimSpace(*src)
		if *dst == "" {
			*dst = def
		}
	}
	setExpr(&r.Condition, f.Condition, "true")
	setExpr(&r.Points, f.Points, "0")
	setExpr(&r.Growth, f.Growth, "0")
	if l := f.Limits; l != nil {
		setLimit := func(name string, dst *int64, src *int64) {
			if src == nil {
				return
			}
			if *src < 0 {
				fe.Add("limits."+name, "must be 0 (no limit) or more")
				return
			}
			*dst = *src
		}
		setLimit("per_member_per_day", &r.Limits.PerMemberPerDay, l.PerMemberPerDay)
		setLimit("per_member_per_week", &r.Limits.PerMemberPerWeek, l.PerMemberPerWeek)
		setLimit("per_member_per_month", &r.Limits.PerMemberPerMonth, l.PerMemberPerMonth)
		setLimit("per_rule_per_day", &r.Limits.PerRulePerDay, l.PerRulePerDay)
	}
	if f.Priority != nil {
		if *f.Priority < -maxPriority || *f.Priority > maxPriority {
			fe.Add("priority", fmt.Sprintf("must be from %d to %d", -maxPriority, maxPriority))
		} else {
			r.Priority = *f.Priority
		}
	}
	if f.Exclusive != nil {
		r.Exclusive = *f.Exclusive
	}
	if f.Active != nil {
		r.Active = *f.Active
	}
	setTime := func(name string, dst **time.Time, src NullableTime) {
		if !src.Set {
			return
		}
		if src.Value == nil || *src.Value == "" {
			*dst = nil
			return
		}
		t, err := time.Parse(time.RFC3339, *src.Value)
		if err != nil {
			fe.Add(name, "must be an RFC 3339 time such as 2026-11-11T00:00:00Z")
			return
		}
		t = t.UTC().Truncate(time.Microsecond)
		*dst = &t
	}
	setTime("starts_at", &r.StartsAt, f.StartsAt)
	setTime("ends_at", &r.EndsAt, f.EndsAt)
}
