package events

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"jifen/platform"
	"jifen/tenants/rules"
)

// maxFutureSkew is how far ahead of the server's clock occurred_at may be:
// the senders' clocks drift, but an event can't happen in the future.
const maxFutureSkew = 5 * time.Minute

// refPattern is the shape of the ids merchants send in attributes (orders,
// refunds, referrers): the same as a member's external_id.
var refPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

const refProblem = "must be 1 to 128 printable ASCII characters without spaces"

// parsed is a request that passed validation.
type parsed struct {
	typ        string
	occurredAt time.Time
	attrs      map[string]any

	orderID     string
	amountCents int64
	hasAmount   bool
	pointsUsed  int64
	hasUsed     bool
	refundID    string

	referrerMemberID   string
	referrerExternalID string
}

// parse validates a request's type, time and the attributes the platform
// itself reads; it needs no database.
func parse(req Request, now time.Time) (parsed, error) {
	fe := platform.FieldErrors{}
	p := parsed{typ: strings.TrimSpace(req.Type)}
	switch {
	case p.typ == "":
		fe.Add("type", "is required: a built-in event type ("+strings.Join(rules.BuiltinEvents, ", ")+") or a lower_snake custom name")
	case !rules.ValidEventType(p.typ):
		fe.Add("type", "must be a lower_snake name of at most 64 characters, such as order_paid or level_completed")
	}
	if strings.TrimSpace(req.MemberID) == "" && strings.TrimSpace(req.ExternalID) == "" {
		fe.Add("member_id", "is required (or external_id)")
	}
	p.occurredAt = now
	if s := strings.TrimSpace(req.OccurredAt); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		switch {
		case err != nil:
			fe.Add("occurred_at", "must be an RFC 3339 time such as 2026-11-22T10:00:00Z")
		case t.After(now.Add(maxFutureSkew)):
			fe.Add("occurred_at", fmt.Sprintf("is in the future; it must not be later than %s", now.Add(maxFutureSkew).Format(time.RFC3339)))
		case t.Year() < 2000:
			fe.Add("occurred_at", "must be after 2000-01-01")
		default:
			p.occurredAt = t.UTC().Truncate(time.Microsecond)
		}
	}
	p.attrs = rules.NormalizeAttributes(req.Attributes)
	switch p.typ {
	case TypeOrderPaid:
		p.orderID = attrRef(p.attrs, "order_id", true, fe)
		p.amountCents, p.hasAmount = attrInt(p.attrs, "amount_cents", 0, true, fe)
		p.pointsUsed, p.hasUsed = attrInt(p.attrs, "points_used", 0, false, fe)
	case TypeOrderRefunded:
		p.orderID = attrRef(p.attrs, "order_id", true, fe)
		p.amountCents, p.hasAmount = attrInt(p.attrs, "amount_cents", 1, false, fe)
		p.pointsUsed, p.hasUsed = attrInt(p.attrs, "points_used", 0, false, fe)
		p.refundID = attrRef(p.attrs, "refund_id", false, fe)
	case TypeMemberRegistered:
		p.referrerMemberID = attrRef(p.attrs, "referrer_member_id", false, fe)
		p.referrerExternalID = attrRef(p.attrs, "referrer_external_id", false, fe)
		if p.referrerMemberID != "" && p.referrerExternalID != "" {
			fe.Add("attributes.referrer_external_id", "send referrer_member_id or referrer_external_id, not both")
		}
	}
	return p, fe.Err()
}

// attrRef reads an id attribute: a string (or an integer, which order ids
// often are) of refPattern's shape.
func attrRef(attrs map[string]any, key string, required bool, fe platform.FieldErrors) string {
	field := "attributes." + key
	v, ok := attrs[key]
	if !ok || v == nil {
		if required {
			fe.Add(field, "is required: "+refProblem)
		}
		return ""
	}
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	default:
		fe.Add(field, "must be a string")
		return ""
	}
	if !refPattern.MatchString(s) {
		fe.Add(field, refProblem)
		return ""
	}
	return s
}

// attrInt reads an integer attribute of at least min.
func attrInt(attrs map[string]any, key string, min int64, required bool, fe platform.FieldErrors) (int64, bool) {
	field := "attributes." + key
	v, ok := attrs[key]
	if !ok || v == nil {
		if required {
			fe.Add(field, fmt.Sprintf("is required: an integer of at least %d", min))
		}
		return 0, false
	}
	n, isInt := v.(int64)
	if !isInt || n < min {
		fe.Add(field, fmt.Sprintf("must be an integer of at least %d", min))
		return 0, false
	}
	return n, true
}
