package rules

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"

	"jifen/pkg/clock"
	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/storage"
)

// Service keeps a tenant's earning rules and evaluates them. Create it with
// NewService; set the optional fields before first use.
type Service struct {
	DB    *storage.DB
	Audit *audit.Log
	Clock platform.Clock

	// SimulationUsage, when set, is the usage the simulator counts limits
	// against (the events service's awards); nil simulates as if nothing had
	// been awarded yet.
	SimulationUsage Usage
	// EvalTimeout is how long one rule's expressions may run
	// (DefaultEvalTimeout when 0).
	EvalTimeout time.Duration
	// CostLimit is the run-time budget of one expression in CEL cost units
	// (DefaultCostLimit when 0).
	CostLimit uint64

	env   *cel.Env
	cache *programCache
	once  sync.Once
}

// NewService returns a rules service on db that records changes in log.
func NewService(db *storage.DB, log *audit.Log, clk platform.Clock) *Service {
	s := &Service{DB: db, Audit: log, Clock: clk}
	s.init()
	return s
}

// init builds the CEL environment and the program cache once.
func (s *Service) init() {
	s.once.Do(func() {
		env, err := newEnv()
		if err != nil {
			// The environment is built from constants; failing is a bug.
			panic(fmt.Sprintf("rules: build the CEL environment: %v", err))
		}
		s.env = env
		s.cache = newProgramCache(DefaultCacheSize)
		if s.Clock == nil {
			s.Clock = clock.Real{}
		}
	})
}

func (s *Service) evalTimeout() time.Duration {
	if s.EvalTimeout > 0 {
		return s.EvalTimeout
	}
	return DefaultEvalTimeout
}

func (s *Service) costLimit() uint64 {
	if s.CostLimit > 0 {
		return s.CostLimit
	}
	return DefaultCostLimit
}

// errChangedMeanwhile answers an update that lost a race.
var errChangedMeanwhile = platform.Errorf(platform.EConflict,
	"The rule was changed by someone else meanwhile; load it again and retry.")

// validate checks a rule's plain fields and compiles its expressions,
// reporting problems in fe.
func (s *Service) validate(r *Rule, fe platform.FieldErrors) {
	switch n := utf8.RuneCountInString(r.Name); {
	case n == 0:
		fe.Add("name", "is required")
	case n > maxNameLength:
		fe.Add("name", fmt.Sprintf("must be at most %d characters", maxNameLength))
	}
	switch {
	case r.Event == "":
		fe.Add("event", "is required: a built-in event type ("+strings.Join(BuiltinEvents, ", ")+") or a lower_snake custom name")
	case !ValidEventType(r.Event):
		fe.Add("event", fmt.Sprintf("must be a lower_snake name of at most %d characters, such as order_paid", maxEventNameLength))
	}
	if r.StartsAt != nil && r.EndsAt != nil && !r.EndsAt.After(*r.StartsAt) {
		fe.Add("ends_at", "must be after starts_at")
	}
	if _, errs := s.compileRule(r); errs != nil {
		for _, e := range errs {
			fe.Add(e.field, e.message)
		}
		return
	}
	if r.Points == "0" && r.Growth == "0" {
		fe.Add("points", "points and growth are both 0, so the rule would never award anything")
	}
}

// CreateRules saves a new rule, or the rules a template expands to (the
// referral template makes two), and returns them. It returns
// validation_failed naming each bad field, with the line and column of an
// expression that does not compile.
func (s *Service) CreateRules(ctx context.Context, req CreateRule) ([]Rule, error) {
	s.init()
	fe := platform.FieldErrors{}
	var drafts []Rule
	if req.Template != "" {
		drafts = expandTemplate(req, fe)
	} else {
		if req.Params != nil {
			fe.Add("params", "is only used with a template")
		}
		r := Rule{Condition: "true", Points: "0", Growth: "0", Active: true}
		req.RuleFields.apply(&r, fe)
		drafts = []Rule{r}
	}
	if len(fe) == 0 {
		for i := range drafts {
			s.validate(&drafts[i], fe)
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	tid := platform.TenantID(ctx)
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.Clock.Now()
		// Rules made together (a template's) get increasing ids and times, so
		// their creation order, which breaks priority ties, is theirs.
		newIDs := make([]string, len(drafts))
		for i := range newIDs {
			newIDs[i] = ids.NewAt(now)
		}
		sort.Strings(newIDs)
		for i := range drafts {
			r := &drafts[i]
			r.ID = newIDs[i]
			r.Version = 1
			r.CreatedAt = now.Add(time.Duration(i) * time.Microsecond)
			r.UpdatedAt = r.CreatedAt
			if err := s.insertRule(ctx, tid, r); err != nil {
				return err
			}
			if err := s.record(ctx, "rule.created", r, map[string]any{"name": r.Name, "event": r.Event, "template": r.Template}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return drafts, nil
}

// FindRuleByID returns a rule of the tenant, or not_found (also for a
// deleted rule).
func (s *Service) FindRuleByID(ctx context.Context, id string) (Rule, error) {
	return s.findRule(ctx, id)
}

// FindRules returns a page of the tenant's rules in creation order and the
// cursor of the next page. A bad cursor is validation_failed.
func (s *Service) FindRules(ctx context.Context, f RuleFilter) ([]Rule, string, error) {
	if f.Event != "" && !ValidEventType(f.Event) {
		return nil, "", platform.FieldErrors{"event": "must be an event type such as order_paid"}.Err()
	}
	return s.findRules(ctx, f)
}

// UpdateRule changes the given fields of a rule, checks and compiles it
// again and bumps its version. It returns not_found for an unknown rule,
// validation_failed for bad fields and conflict when the rule changed
// meanwhile. A body with no field changes nothing.
func (s *Service) UpdateRule(ctx context.Context, id string, f RuleFields) (Rule, error) {
	s.init()
	var out Rule
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.findRule(ctx, id)
		if err != nil {
			return err
		}
		fe := platform.FieldErrors{}
		f.apply(&r, fe)
		if len(fe) == 0 {
			s.validate(&r, fe)
		}
		if err := fe.Err(); err != nil {
			return err
		}
		changed := f.given()
		if len(changed) == 0 {
			out = r
			return nil
		}
		prev := r.Version
		r.Version++
		r.UpdatedAt = s.Clock.Now()
		if err := s.saveRule(ctx, platform.TenantID(ctx), &r, prev, nil); err != nil {
			return err
		}
		out = r
		return s.record(ctx, "rule.updated", &r, map[string]any{"fields": changed})
	})
	return out, err
}

// given names the fields of a patch.
func (f *RuleFields) given() []string {
	var out []string
	for _, x := range []struct {
		name string
		set  bool
	}{
		{"name", f.Name != nil}, {"event", f.Event != nil}, {"condition", f.Condition != nil},
		{"points", f.Points != nil}, {"growth", f.Growth != nil}, {"limits", f.Limits != nil},
		{"priority", f.Priority != nil}, {"exclusive", f.Exclusive != nil}, {"active", f.Active != nil},
		{"starts_at", f.StartsAt.Set}, {"ends_at", f.EndsAt.Set},
	} {
		if x.set {
			out = append(out, x.name)
		}
	}
	return out
}

// DeleteRule deactivates a rule and hides it from the API; awards that name
// it keep their reference. It returns not_found for an unknown rule.
func (s *Service) DeleteRule(ctx context.Context, id string) error {
	s.init()
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		r, err := s.findRule(ctx, id)
		if err != nil {
			return err
		}
		prev := r.Version
		now := s.Clock.Now()
		r.Active, r.Version, r.UpdatedAt = false, r.Version+1, now
		if err := s.saveRule(ctx, platform.TenantID(ctx), &r, prev, &now); err != nil {
			return err
		}
		return s.record(ctx, "rule.deleted", &r, map[string]any{"name": r.Name})
	})
}

// record writes an audit record of a rule change, when auditing is on.
func (s *Service) record(ctx context.Context, action string, r *Rule, details map[string]any) error {
	if s.Audit == nil {
		return nil
	}
	details["version"] = r.Version
	return s.Audit.Record(ctx, action, "rule", r.ID, details)
}
