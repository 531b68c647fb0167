package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"jifen/pkg/cursor"
	"jifen/platform/storage"
)

// ruleRow is a row of the rules table.
type ruleRow struct {
	TenantID         string     `gorm:"column:tenant_id"`
	ID               string     `gorm:"column:id"`
	Name             string     `gorm:"column:name"`
	EventType        string     `gorm:"column:event_type"`
	ConditionExpr    string     `gorm:"column:condition_expr"`
	PointsExpr       string     `gorm:"column:points_expr"`
	GrowthExpr       string     `gorm:"column:growth_expr"`
	LimitMemberDay   int64      `gorm:"column:limit_member_day"`
	LimitMemberWeek  int64      `gorm:"column:limit_member_week"`
	LimitMemberMonth int64      `gorm:"column:limit_member_month"`
	LimitRuleDay     int64      `gorm:"column:limit_rule_day"`
	Priority         int        `gorm:"column:priority"`
	IsExclusive      bool       `gorm:"column:is_exclusive"`
	Active           bool       `gorm:"column:active"`
	StartsAt         *time.Time `gorm:"column:starts_at"`
	EndsAt           *time.Time `gorm:"column:ends_at"`
	Template         string     `gorm:"column:template"`
	TemplateParams   string     `gorm:"column:template_params"`
	Version          int64      `gorm:"column:version"`
	CreatedAt        time.Time  `gorm:"column:created_at"`
	UpdatedAt        time.Time  `gorm:"column:updated_at"`
	DeletedAt        *time.Time `gorm:"column:deleted_at"`
}

// TableName is the rules table.
func (ruleRow) TableName() string { return "rules" }

func (r *ruleRow) rule() Rule {
	out := Rule{
		ID: r.ID, Name: r.Name, Event: r.EventType,
		Condition: r.ConditionExpr, Points: r.PointsExpr, Growth: r.GrowthExpr,
		Limits: Limits{
			PerMemberPerDay: r.LimitMemberDay, PerMemberPerWeek: r.LimitMemberWeek,
			PerMemberPerMonth: r.LimitMemberMonth, PerRulePerDay: r.LimitRuleDay,
		},
		Priority: r.Priority, Exclusive: r.IsExclusive, Active: r.Active,
		StartsAt: utcPtr(r.StartsAt), EndsAt: utcPtr(r.EndsAt),
		Template:  r.Template,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Version: r.Version,
	}
	if r.TemplateParams != "" && r.TemplateParams != "{}" {
		_ = json.Unmarshal([]byte(r.TemplateParams), &out.Params)
	}
	return out
}

func rowOf(tenantID string, r *Rule) (ruleRow, error) {
	params := []byte("{}")
	if len(r.Params) > 0 {
		var err error
		if params, err = json.Marshal(r.Params); err != nil {
			return ruleRow{}, fmt.Errorf("encode template params: %w", err)
		}
	}
	return ruleRow{
		TenantID: tenantID, ID: r.ID, Name: r.Name, EventType: r.Event,
		ConditionExpr: r.Condition, PointsExpr: r.Points, GrowthExpr: r.Growth,
		LimitMemberDay: r.Limits.PerMemberPerDay, LimitMemberWeek: r.Limits.PerMemberPerWeek,
		LimitMemberMonth: r.Limits.PerMemberPerMonth, LimitRuleDay: r.Limits.PerRulePerDay,
		Priority: r.Priority, IsExclusive: r.Exclusive, Active: r.Active,
		StartsAt: r.StartsAt, EndsAt: r.EndsAt,
		Template: r.Template, TemplateParams: string(params),
		Version: r.Version, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// insertRule stores a new rule in the tenant of ctx.
func (s *Service) insertRule(ctx context.Context, tenantID string, r *Rule) error {
	row, err := rowOf(tenantID, r)
	if err != nil {
		return err
	}
	return storage.Translate(s.DB.Conn(ctx).Create(&row).Error, "rule")
}

// findRule returns a rule of the tenant that is not deleted, or not_found.
func (s *Service) findRule(ctx context.Context, id string) (Rule, error) {
	var row ruleRow
	err := s.DB.Scoped(ctx).Where("id = ? AND deleted_at IS NULL", id).Take(&row).Error
	if err != nil {
		return Rule{}, storage.Translate(err, "rule")
	}
	return row.rule(), nil
}

// saveRule writes r over the stored version prev. It returns conflict when
// the rule changed since prev was read.
func (s *Service) saveRule(ctx context.Context, tenantID string, r *Rule, prev int64, deletedAt *time.Time) error {
	row, err := rowOf(tenantID, r)
	if err != nil {
		return err
	}
	res := s.DB.Scoped(ctx).Model(&ruleRow{}).
		Where("id = ? AND version = ? AND deleted_at IS NULL", r.ID, prev).
		Updates(map[string]any{
			"name": row.Name, "event_type": row.EventType,
			"condition_expr": row.ConditionExpr, "points_expr": row.PointsExpr, "growth_expr": row.GrowthExpr,
			"limit_member_day": row.LimitMemberDay, "limit_member_week": row.LimitMemberWeek,
			"limit_member_month": row.LimitMemberMonth, "limit_rule_day": row.LimitRuleDay,
			"priority": row.Priority, "is_exclusive": row.IsExclusive, "active": row.Active,
			"starts_at": row.StartsAt, "ends_at": row.EndsAt,
			"version": row.Version, "updated_at": row.UpdatedAt, "deleted_at": deletedAt,
		})
	if res.Error != nil {
		return storage.Translate(res.Error, "rule")
	}
	if res.RowsAffected == 0 {
		return errChangedMeanwhile
	}
	return nil
}

// RuleFilter narrows a listing of rules.
type RuleFilter struct {
	// Event keeps the rules of one event type when set.
	Event string
	// Active keeps the active (true) or inactive (false) rules when set.
	Active *bool
	Limit  int
	Cursor string
}

// findRules returns a page of the tenant's rules that are not deleted, in
// creation order, and the cursor of the next page ("" on the last).
func (s *Service) findRules(ctx context.Context, f RuleFilter) ([]Rule, string, error) {
	q := s.DB.Scoped(ctx).Model(&ruleRow{}).Where("deleted_at IS NULL")
	if f.Event != "" {
		q = q.Where("event_type = ?", f.Event)
	}
	if f.Active != nil {
		q = q.Where("active = ?", *f.Active)
	}
	limit := f.Limit
	if limit <= 0 || limit > cursor.MaxLimit {
		limit = cursor.DefaultLimit
	}
	rows, next, err := storage.FindPage[ruleRow](q, limit, f.Cursor, false)
	if err != nil {
		return nil, "", storage.Translate(err, "rule")
	}
	out := make([]Rule, len(rows))
	for i := range rows {
		out[i] = rows[i].rule()
	}
	return out, next, nil
}

// activeRules returns the tenant's active rules for an event type in the
// order they run: higher priority first, then older first.
func (s *Service) activeRules(ctx context.Context, eventType string) ([]Rule, error) {
	var rows []ruleRow
	err := s.DB.Scoped(ctx).
		Where("event_type = ? AND active = ? AND deleted_at IS NULL", eventType, true).
		Order("priority DESC, created_at ASC, id ASC").Find(&rows).Error
	if err != nil {
		return nil, storage.Translate(err, "rule")
	}
	out := make([]Rule, len(rows))
	for i := range rows {
		out[i] = rows[i].rule()
	}
	return out, nil
}
