-- Earning rules: how events turn into points and growth (tenants/rules).
-- A rule is soft-deleted (deleted_at set, active false) so awards that name
-- it keep their reference. Expression columns hold CEL source text; the
-- compiled programs are cached in memory by (tenant, rule, version).

-- +goose Up
CREATE TABLE rules (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(200) NOT NULL,
  event_type VARCHAR(64) NOT NULL,
  condition_expr TEXT NOT NULL,
  points_expr TEXT NOT NULL,
  growth_expr TEXT NOT NULL,
  limit_member_day BIGINT NOT NULL DEFAULT 0,
  limit_member_week BIGINT NOT NULL DEFAULT 0,
  limit_member_month BIGINT NOT NULL DEFAULT 0,
  limit_rule_day BIGINT NOT NULL DEFAULT 0,
  priority INT NOT NULL DEFAULT 0,
  is_exclusive BOOLEAN NOT NULL DEFAULT FALSE,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  starts_at DATETIME(6) NULL,
  ends_at DATETIME(6) NULL,
  template VARCHAR(64) NOT NULL DEFAULT '',
  template_params TEXT NOT NULL,
  version BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  deleted_at DATETIME(6) NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX rules_event ON rules (tenant_id, event_type, active);

-- +goose Down
DROP TABLE rules;
