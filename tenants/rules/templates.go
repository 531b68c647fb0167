package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"jifen/platform"
)

// Template is a preset a dashboard can offer: a few parameters in, one or
// more ordinary rules out. The rules are stored as expanded, so later
// changes to a template never change existing rules.
type Template struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Event is the event type of the rules it makes; "" when a parameter
	// chooses it.
	Event string `json:"event"`
	// Rules is how many rules it makes.
	Rules  int             `json:"rules"`
	Params []TemplateParam `json:"params"`

	expand func(p params) []draft
}

// TemplateParam describes one parameter of a template.
type TemplateParam struct {
	Name string `json:"name"`
	// Type is integer, integer_list, event (an event type) or time (RFC 3339).
	Type        string `json:"type"`
	Required    bool   `json:"required"`
	Default     any    `json:"default,omitempty"`
	Minimum     *int64 `json:"minimum,omitempty"`
	Description string `json:"description"`
}

// Parameter types.
const (
	paramInteger     = "integer"
	paramIntegerList = "integer_list"
	paramEvent       = "event"
	paramTime        = "time"
)

// maxCycleDays is the longest check-in cycle.
const maxCycleDays = 31

// draft is one rule a template makes; part names it among several.
type draft struct {
	rule Rule
	part string
}

// params are a template's parameters after checking, defaults included:
// int64, []int64, string or time.Time by type.
type params map[string]any

func (p params) int(name string) int64      { return p[name].(int64) }
func (p params) ints(name string) []int64   { return p[name].([]int64) }
func (p params) str(name string) string     { return p[name].(string) }
func (p params) time(name string) time.Time { return p[name].(time.Time) }

// json returns the parameters as the API shows them.
func (p params) json() map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		if t, ok := v.(time.Time); ok {
			v = t.Format(time.RFC3339)
		}
		out[k] = v
	}
	return out
}

func intParam(name string, def int64, min *int64, desc string) TemplateParam {
	return TemplateParam{Name: name, Type: paramInteger, Default: def, Minimum: min, Description: desc}
}

func requiredIntParam(name string, min *int64, desc string) TemplateParam {
	return TemplateParam{Name: name, Type: paramInteger, Required: true, Minimum: min, Description: desc}
}

func growthParam() TemplateParam {
	return intParam("growth", 0, new(int64(0)), "Growth per event.")
}

// amountRule is the rule of spending: points (and growth) per amount.
func amountRule(p params, factor int64) Rule {
	perPoint, perGrowth, minAmount := p.int("spend_per_point_cents"), p.int("spend_per_growth_cents"), p.int("min_amount_cents")
	r := Rule{Event: p.str("event"), Condition: "true", Growth: "0", Active: true}
	if minAmount > 0 {
		r.Condition = fmt.Sprintf("event.attributes.amount_cents >= %d", minAmount)
	}
	r.Points = fmt.Sprintf("event.attributes.amount_cents / %d", perPoint)
	if factor > 1 {
		r.Points = fmt.Sprintf("event.attributes.amount_cents / %d * %d", perPoint, factor)
	}
	if perGrowth > 0 {
		r.Growth = fmt.Sprintf("event.attributes.amount_cents / %d", perGrowth)
	}
	return r
}

var amountParams = []TemplateParam{
	{Name: "event", Type: paramEvent, Default: EventOrderPaid, Description: "The event that carries attributes.amount_cents."},
	intParam("spend_per_point_cents", 1000, new(int64(1)), "Spend, in cents, that earns 1 point (1000 = 1 point per 10 yuan); the remainder earns nothing."),
	intParam("spend_per_growth_cents", 100, new(int64(0)), "Spend, in cents, that earns 1 growth (100 = 1 growth per yuan); 0 gives no growth."),
	intParam("min_amount_cents", 0, new(int64(0)), "Orders below this amount earn nothing."),
}

// yuan formats an amount of cents as yuan: 1000 → "10", 150 → "1.50".
func yuan(cents int64) string {
	if cents%100 == 0 {
		return strconv.FormatInt(cents/100, 10)
	}
	return fmt.Sprintf("%d.%02d", cents/100, cents%100)
}

// eventRule is a rule that gives fixed points and growth for an event.
func eventRule(name, event string, p params) Rule {
	r := Rule{Name: name, Event: event, Condition: "true", Active: true,
		Points: strconv.FormatInt(p.int("points"), 10), Growth: strconv.FormatInt(p.int("growth"), 10)}
	if _, ok := p["daily_cap_points"]; ok {
		r.Limits.PerMemberPerDay = p.int("daily_cap_points")
	}
	return r
}

// templates are the built-in templates, in the order a dashboard lists them.
var templates = []*Template{
	{
		Name: "points_per_amount", Title: "Points per amount spent", Event: EventOrderPaid, Rules: 1,
		Description: "The most common rule: e.g. 1 point per 10 yuan and 1 growth per yuan of every paid order, " +
			"computed in whole numbers from attributes.amount_cents.",
		Params: amountParams,
		expand: func(p params) []draft {
			r := amountRule(p, 1)
			r.Name = fmt.Sprintf("1 point per %s yuan", yuan(p.int("spend_per_point_cents")))
			return []draft{{rule: r}}
		},
	},
	{
		Name: "fixed_points", Title: "Fixed points per action", Rules: 1,
		Description: "The same points (and growth) every time an event happens, optionally capped per member and day.",
		Params: []TemplateParam{
			{Name: "event", Type: paramEvent, Required: true, Description: "The event type: built-in or a custom lower_snake name."},
			requiredIntParam("points", new(int64(0)), "Points per event."),
			growthParam(),
			intParam("daily_cap_points", 0, new(int64(0)), "Most points a member earns from this rule a day; 0 = no cap."),
		},
		expand: func(p params) []draft {
			return []draft{{rule: eventRule(fmt.Sprintf("%d points per %s", p.int("points"), p.str("event")), p.str("event"), p)}}
		},
	},
	{
		Name: "checkin_streak", Title: "Daily check-in streak", Event: EventCheckIn, Rules: 1,
		Description: "Consecutive check-in days pay more, over a repeating cycle (day 1..7 by default); a missed day " +
			"starts again at day 1. Uses member.checkin_streak, the streak including today.",
		Params: []TemplateParam{
			{Name: "awards", Type: paramIntegerList, Default: []int64{1, 2, 3, 5, 8, 13, 20},
				Description: fmt.Sprintf("Points for day 1, 2, … of the cycle (1 to %d days); after the last day the cycle starts again.", maxCycleDays)},
			growthParam(),
		},
		expand: func(p params) []draft {
			awards := p.ints("awards")
			list := make([]string, len(awards))
			for i, a := range awards {
				list[i] = strconv.FormatInt(a, 10)
			}
			return []draft{{rule: Rule{
				Name: fmt.Sprintf("Check-in streak (%d-day cycle)", len(awards)), Event: EventCheckIn,
				Condition: "member.checkin_streak >= 1",
				Points:    fmt.Sprintf("[%s][(member.checkin_streak - 1) %% %d]", strings.Join(list, ", "), len(awards)),
				Growth:    strconv.FormatInt(p.int("growth"), 10), Active: true,
			}}}
		},
	},
	{
		Name: "registration", Title: "Welcome points", Event: EventMemberRegistered, Rules: 1,
		Description: "Points (and growth) when a member registers.",
		Params:      []TemplateParam{intParam("points", 100, new(int64(0)), "Points on registration."), growthParam()},
		expand: func(p params) []draft {
			return []draft{{rule: eventRule("Welcome points", EventMemberRegistered, p)}}
		},
	},
	{
		Name: "review", Title: "Points for a review", Event: EventReviewPosted, Rules: 1,
		Description: "Points for every review, capped per member and day so reviews can't be farmed.",
		Params: []TemplateParam{
			intParam("points", 10, new(int64(0)), "Points per review."), growthParam(),
			intParam("daily_cap_points", 30, new(int64(0)), "Most points a member earns from reviews a day (after the tier multiplier); 0 = no cap."),
		},
		expand: func(p params) []draft {
			return []draft{{rule: eventRule("Points for a review", EventReviewPosted, p)}}
		},
	},
	{
		Name: "share", Title: "Points for sharing", Event: EventContentShared, Rules: 1,
		Description: "Points for sharing content, capped per member and day.",
		Params: []TemplateParam{
			intParam("points", 5, new(int64(0)), "Points per share."), growthParam(),
			intParam("daily_cap_points", 15, new(int64(0)), "Most points a member earns from sharing a day (after the tier multiplier); 0 = no cap."),
		},
		expand: func(p params) []draft {
			return []draft{{rule: eventRule("Points for sharing", EventContentShared, p)}}
		},
	},
	{
		Name: "birthday", Title: "Birthday points", Event: EventBirthday, Rules: 1,
		Description: "Points on the member's birthday (the scheduler sends the birthday event in the tenant's time zone).",
		Params:      []TemplateParam{intParam("points", 200, new(int64(0)), "Points on the birthday."), growthParam()},
		expand: func(p params) []draft {
			return []draft{{rule: eventRule("Birthday points", EventBirthday, p)}}
		},
	},
	{
		Name: "referral", Title: "Referral: both sides rewarded", Event: EventReferralCompleted, Rules: 2,
		Description: "Two rules on referral_completed, which the events service sends for the referrer and for the " +
			"new member once the new member's first order is paid (attributes.role is \"referrer\" or \"referee\").",
		Params: []TemplateParam{
			intParam("referrer_points", 500, new(int64(0)), "Points for the member who referred."),
			intParam("referee_points", 200, new(int64(0)), "Points for the new member."),
			intParam("referrer_monthly_cap_points", 0, new(int64(0)), "Most referral points a referrer earns a month (after the tier multiplier); 0 = no cap."),
		},
		expand: func(p params) []draft {
			referrer := Rule{Name: "Referral: referrer", Event: EventReferralCompleted,
				Condition: `event.attributes.role == "referrer"`, Points: strconv.FormatInt(p.int("referrer_points"), 10),
				Growth: "0", Active: true, Limits: Limits{PerMemberPerMonth: p.int("referrer_monthly_cap_points")}}
			referee := Rule{Name: "Referral: new member", Event: EventReferralCompleted,
				Condition: `event.attributes.role == "referee"`, Points: strconv.FormatInt(p.int("referee_points"), 10),
				Growth: "0", Active: true}
			return []draft{{rule: referrer, part: "referrer"}, {rule: referee, part: "new member"}}
		},
	},
	{
		Name: "double_points", Title: "Double-points window", Event: EventOrderPaid, Rules: 1,
		Description: "A campaign window (e.g. 11.11) in which spending earns a multiple of the usual points. It runs " +
			"before the usual rules (priority 100) and is exclusive, so it replaces them inside the window; the tier " +
			"multiplier still applies on top.",
		Params: append([]TemplateParam{
			{Name: "starts_at", Type: paramTime, Required: true, Description: "Start of the window (RFC 3339), inclusive."},
			{Name: "ends_at", Type: paramTime, Required: true, Description: "End of the window (RFC 3339), exclusive."},
			intParam("factor", 2, new(int64(2)), "How many times the usual points (2 = double)."),
		}, amountParams...),
		expand: func(p params) []draft {
			r := amountRule(p, p.int("factor"))
			r.Name = fmt.Sprintf("%dx points", p.int("factor"))
			if p.int("factor") == 2 {
				r.Name = "Double points"
			}
			r.Priority, r.Exclusive = 100, true
			start, end := p.time("starts_at"), p.time("ends_at")
			r.StartsAt, r.EndsAt = &start, &end
			return []draft{{rule: r}}
		},
	},
}

// Templates returns the built-in templates, in the order a dashboard lists
// them.
func (s *Service) Templates() []Template {
	out := make([]Template, len(templates))
	for i, t := range templates {
		out[i] = *t
		out[i].Params = slices.Clone(t.Params)
	}
	return out
}

func findTemplate(name string) *Template {
	for _, t := range templates {
		if t.Name == name {
			return t
		}
	}
	return nil
}

func templateNames() string {
	names := make([]string, len(templates))
	for i, t := range templates {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// expandTemplate turns a template request into rules, reporting bad
// parameters as params.<name> in fe. The request's name, limits, priority,
// exclusive, active and window override the template's.
func expandTemplate(req CreateRule, fe platform.FieldErrors) []Rule {
	t := findTemplate(req.Template)
	if t == nil {
		fe.Add("template", "is not a template; use one of "+templateNames())
		return nil
	}
	for _, f := range []struct {
		name  string
		given bool
	}{
		{"event", req.Event != nil}, {"condition", req.Condition != nil},
		{"points", req.Points != nil}, {"growth", req.Growth != nil},
	} {
		if f.given {
			fe.Add(f.name, "can't be given with a template; set the template's params, or write the rule without a template")
		}
	}
	p := t.check(req.Params, fe)
	if len(fe) > 0 {
		return nil
	}
	drafts := t.expand(p)
	out := make([]Rule, len(drafts))
	for i, d := range drafts {
		r := d.rule
		r.Template, r.Params = t.Name, p.json()
		req.RuleFields.apply(&r, fe)
		if req.Name != nil && d.part != "" {
			r.Name = fmt.Sprintf("%s (%s)", r.Name, d.part)
		}
		out[i] = r
	}
	return out
}

// check validates the given parameters and fills in defaults.
func (t *Template) check(given map[string]any, fe platform.FieldErrors) params {
	p := params{}
	for k := range given {
		if t.param(k) == nil {
			fe.Add("params."+k, "is not a parameter of template "+t.Name)
		}
	}
	for _, tp := range t.Params {
		field := "params." + tp.Name
		v, ok := given[tp.Name]
		if !ok || v == nil {
			if tp.Required {
				fe.Add(field, "is required")
				continue
			}
			v = tp.Default
		}
		switch tp.Type {
		case paramInteger:
			n, ok := normalizeValue(v).(int64)
			switch {
			case !ok:
				fe.Add(field, "must be an integer")
			case tp.Minimum != nil && n < *tp.Minimum:
				fe.Add(field, fmt.Sprintf("must be at least %d", *tp.Minimum))
			default:
				p[tp.Name] = n
			}
		case paramIntegerList:
			list, ok := intList(v)
			if !ok || len(list) == 0 || len(list) > maxCycleDays {
				fe.Add(field, fmt.Sprintf("must be a list of 1 to %d whole numbers of 0 or more", maxCycleDays))
				continue
			}
			p[tp.Name] = list
		case paramEvent:
			s, ok := v.(string)
			if !ok || !ValidEventType(s) {
				fe.Add(field, "must be an event type such as order_paid")
				continue
			}
			p[tp.Name] = s
		case paramTime:
			s, _ := v.(string)
			ts, err := time.Parse(time.RFC3339, s)
			if err != nil {
				fe.Add(field, "must be an RFC 3339 time such as 2026-11-11T00:00:00+08:00")
				continue
			}
			p[tp.Name] = ts.UTC().Truncate(time.Microsecond)
		}
	}
	if s, ok := p["starts_at"].(time.Time); ok {
		if e, ok := p["ends_at"].(time.Time); ok && !e.After(s) {
			fe.Add("params.ends_at", "must be after starts_at")
		}
	}
	return p
}

func (t *Template) param(name string) *TemplateParam {
	for i := range t.Params {
		if t.Params[i].Name == name {
			return &t.Params[i]
		}
	}
	return nil
}

// intList reads a list of whole numbers of 0 or more.
func intList(v any) ([]int64, bool) {
	switch x := v.(type) {
	case []int64:
		return x, true
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			n, ok := normalizeValue(e).(int64)
			if !ok || n < 0 {
				return nil, false
			}
			out[i] = n
		}
		return out, true
	}
	return nil, false
}
