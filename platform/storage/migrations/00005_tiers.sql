-- Tiers (会员等级): a tenant's ladder, its evaluation settings, each
-- member's tier state (earned tier, at-risk flag, manual override) and the
-- member's tier history.
-- Written in the SQL that SQLite and MySQL/MariaDB both accept.

-- +goose Up
CREATE TABLE tier_settings (
  tenant_id VARCHAR(26) NOT NULL,
  basis VARCHAR(16) NOT NULL,
  window_months INT NOT NULL,
  evaluation_period VARCHAR(16) NOT NULL,
  grace_days INT NOT NULL,
  evaluated_through DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id)
);

CREATE TABLE tiers (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(50) NOT NULL,
  tier_rank INT NOT NULL,
  growth_threshold BIGINT NOT NULL,
  keep_threshold BIGINT NOT NULL,
  multiplier_permille INT NOT NULL,
  birthday_multiplier_permille INT NOT NULL,
  upgrade_coupon_template_id VARCHAR(64) NOT NULL,
  free_shipping BOOLEAN NOT NULL,
  priority_service BOOLEAN NOT NULL,
  perks TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX tiers_rank ON tiers (tenant_id, tier_rank);
CREATE UNIQUE INDEX tiers_name ON tiers (tenant_id, name);

CREATE TABLE member_tiers (
  tenant_id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  tier_id VARCHAR(26) NOT NULL,
  tier_since DATETIME(6) NULL,
  at_risk_since DATETIME(6) NULL,
  downgrade_at DATETIME(6) NULL,
  override_tier_id VARCHAR(26) NOT NULL,
  override_until DATETIME(6) NULL,
  override_reason VARCHAR(200) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, member_id)
);
CREATE INDEX member_tiers_tier ON member_tiers (tenant_id, tier_id);
CREATE INDEX member_tiers_override ON member_tiers (tenant_id, override_tier_id);

CREATE TABLE tier_history (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  from_tier_id VARCHAR(26) NOT NULL,
  from_tier_name VARCHAR(50) NOT NULL,
  to_tier_id VARCHAR(26) NOT NULL,
  to_tier_name VARCHAR(50) NOT NULL,
  growth BIGINT NOT NULL,
  reason VARCHAR(200) NOT NULL,
  until_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tier_history_member ON tier_history (tenant_id, member_id, id);

-- +goose Down
DROP TABLE tier_history;
DROP TABLE member_tiers;
DROP TABLE tiers;
DROP TABLE tier_settings;
