package rules

import (
	"context"
	"time"

	"jifen/platform"
)

// maxMultiplierPermille is the largest tier multiplier a simulation accepts
// (100x).
const maxMultiplierPermille = 100_000

// SimulateEvent is the event of a simulation.
type SimulateEvent struct {
	Type       string         `json:"type"`
	OccurredAt *string        `json:"occurred_at"`
	Attributes map[string]any `json:"attributes"`
}

// SimulateMember are the member facts of a simulation; all optional.
type SimulateMember struct {
	ID            string  `json:"id"`
	Tier          string  `json:"tier"`
	Growth        int64   `json:"growth"`
	Points        int64   `json:"points"`
	Birthday      string  `json:"birthday"`
	CreatedAt     *string `json:"created_at"`
	CheckinStreak int64   `json:"checkin_streak"`
}

// SimulateRequest is the body of POST /rules/simulate.
type SimulateRequest struct {
	Event  SimulateEvent   `json:"event"`
	Member *SimulateMember `json:"member"`
	// TierMultiplierPermille is the member's tier multiplier (1000 = 1x);
	// 1x when absent.
	TierMultiplierPermille *int64 `json:"tier_multiplier_permille"`
}

// Simulation is what the tenant's rules would award for an event.
type Simulation struct {
	Awards      []Award     `json:"awards"`
	Errors      []RuleError `json:"errors"`
	PointsDelta int64       `json:"points_delta"`
	GrowthDelta int64       `json:"growth_delta"`
}

// Simulate evaluates the tenant's rules for an event without writing
// anything. Limits count against SimulationUsage when it is set, else as if
// nothing had been awarded yet; awards that a limit used up are shown with
// their note. Bad input is validation_failed naming each field.
func (s *Service) Simulate(ctx context.Context, req SimulateRequest) (Simulation, error) {
	s.init()
	in, mult, err := req.input(s.Clock.Now())
	if err != nil {
		return Simulation{}, err
	}
	awards, errs, err := s.evaluate(ctx, in, mult, s.SimulationUsage, true)
	if err != nil {
		return Simulation{}, err
	}
	out := Simulation{Awards: awards, Errors: errs}
	if out.Awards == nil {
		out.Awards = []Award{}
	}
	if out.Errors == nil {
		out.Errors = []RuleError{}
	}
	for _, a := range awards {
		out.PointsDelta += a.Points
		out.GrowthDelta += a.Growth
	}
	return out, nil
}

// input checks the request and turns it into an evaluation's input.
func (req *SimulateRequest) input(now time.Time) (Input, int64, error) {
	fe := platform.FieldErrors{}
	in := Input{EventType: req.Event.Type, Attributes: NormalizeAttributes(req.Event.Attributes), Now: now}
	switch {
	case req.Event.Type == "":
		fe.Add("event.type", "is required")
	case !ValidEventType(req.Event.Type):
		fe.Add("event.type", "must be an event type such as order_paid")
	}
	parseTime := func(field string, s *string) time.Time {
		if s == nil || *s == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, *s)
		if err != nil {
			fe.Add(field, "must be an RFC 3339 time such as 2026-11-22T10:00:00Z")
		}
		return t.UTC()
	}
	in.OccurredAt = parseTime("event.occurred_at", req.Event.OccurredAt)
	if m := req.Member; m != nil {
		in.Member = MemberFacts{ID: m.ID, Tier: m.Tier, Growth: m.Growth, Points: m.Points,
			Birthday: m.Birthday, CheckinStreak: m.CheckinStreak}
		if m.Birthday != "" {
			if _, err := time.Parse(time.DateOnly, m.Birthday); err != nil {
				fe.Add("member.birthday", "must be a date YYYY-MM-DD")
			}
		}
		if m.CheckinStreak < 0 {
			fe.Add("member.checkin_streak", "must be 0 or more")
		}
		in.Member.CreatedAt = parseTime("member.created_at", m.CreatedAt)
	}
	mult := int64(permilleOne)
	if p := req.TierMultiplierPermille; p != nil {
		if *p < 1 || *p > maxMultiplierPermille {
			fe.Add("tier_multiplier_permille", "must be from 1 to 100000 (1000 = 1x, 1500 = 1.5x)")
		}
		mult = *p
	}
	return in, mult, fe.Err()
}
