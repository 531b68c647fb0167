-- The points mall: items (goods, coupons, virtual items, exchange codes,
-- lotteries), redemption orders, coupon templates and coupons, exchange
-- code batches and codes with the guessing counter, lottery prizes, draws
-- and daily budgets.
-- Written in the SQL that SQLite and MySQL/MariaDB both accept.

-- +goose Up
CREATE TABLE mall_items (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(200) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  category VARCHAR(64) NOT NULL DEFAULT '',
  description TEXT NOT NULL,
  image_urls TEXT NOT NULL,
  points_price BIGINT NOT NULL,
  cash_price_cents BIGINT NOT NULL DEFAULT 0,
  stock BIGINT NOT NULL,
  per_member_limit INT NOT NULL DEFAULT 0,
  per_member_daily_limit INT NOT NULL DEFAULT 0,
  per_member_monthly_limit INT NOT NULL DEFAULT 0,
  min_tier_rank INT NOT NULL DEFAULT 0,
  starts_at DATETIME(6) NULL,
  ends_at DATETIME(6) NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  coupon_template_id VARCHAR(26) NOT NULL DEFAULT '',
  daily_prize_limit INT NOT NULL DEFAULT 0,
  daily_points_limit BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mall_items_category ON mall_items (tenant_id, category, id);
CREATE INDEX mall_items_kind ON mall_items (tenant_id, kind, id);

CREATE TABLE mall_redemptions (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  item_id VARCHAR(26) NOT NULL,
  item_name VARCHAR(200) NOT NULL,
  item_kind VARCHAR(16) NOT NULL,
  source VARCHAR(16) NOT NULL,
  source_ref VARCHAR(64) NOT NULL DEFAULT '',
  quantity INT NOT NULL,
  points_spent BIGINT NOT NULL,
  cash_due_cents BIGINT NOT NULL DEFAULT 0,
  status VARCHAR(16) NOT NULL,
  shipping_address TEXT NULL,
  carrier VARCHAR(64) NOT NULL DEFAULT '',
  tracking_number VARCHAR(64) NOT NULL DEFAULT '',
  grants TEXT NOT NULL,
  ledger_entry_id VARCHAR(64) NOT NULL DEFAULT '',
  refund_entry_id VARCHAR(64) NOT NULL DEFAULT '',
  cancel_reason VARCHAR(500) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  fulfilled_at DATETIME(6) NULL,
  shipped_at DATETIME(6) NULL,
  completed_at DATETIME(6) NULL,
  cancelled_at DATETIME(6) NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mall_redemptions_status ON mall_redemptions (tenant_id, status, id);
CREATE INDEX mall_redemptions_member ON mall_redemptions (tenant_id, member_id, id);
CREATE INDEX mall_redemptions_limits ON mall_redemptions (tenant_id, member_id, item_id, created_at);
CREATE INDEX mall_redemptions_item ON mall_redemptions (tenant_id, item_id, id);

CREATE TABLE coupon_templates (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(200) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  amount_off_cents BIGINT NOT NULL DEFAULT 0,
  percent_off INT NOT NULL DEFAULT 0,
  max_off_cents BIGINT NOT NULL DEFAULT 0,
  min_order_cents BIGINT NOT NULL DEFAULT 0,
  valid_days INT NOT NULL,
  active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE coupons (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  code VARCHAR(32) NOT NULL,
  template_id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  status VARCHAR(16) NOT NULL,
  source VARCHAR(16) NOT NULL,
  source_ref VARCHAR(64) NOT NULL DEFAULT '',
  redemption_id VARCHAR(26) NOT NULL DEFAULT '',
  reason VARCHAR(500) NOT NULL DEFAULT '',
  valid_from DATETIME(6) NOT NULL,
  valid_until DATETIME(6) NOT NULL,
  used_at DATETIME(6) NULL,
  order_amount_cents BIGINT NOT NULL DEFAULT 0,
  discount_cents BIGINT NOT NULL DEFAULT 0,
  order_ref VARCHAR(128) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX coupons_code ON coupons (tenant_id, code);
CREATE INDEX coupons_member ON coupons (tenant_id, member_id, id);
CREATE INDEX coupons_redemption ON coupons (tenant_id, redemption_id);

CREATE TABLE mall_code_batches (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(200) NOT NULL,
  item_id VARCHAR(26) NOT NULL,
  mode VARCHAR(16) NOT NULL,
  quantity INT NOT NULL,
  starts_at DATETIME(6) NOT NULL,
  ends_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mall_code_batches_item ON mall_code_batches (tenant_id, item_id, ends_at);

CREATE TABLE mall_codes (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  code VARCHAR(32) NOT NULL,
  batch_id VARCHAR(26) NOT NULL,
  item_id VARCHAR(26) NOT NULL,
  status VARCHAR(16) NOT NULL,
  member_id VARCHAR(26) NOT NULL DEFAULT '',
  redemption_id VARCHAR(26) NOT NULL DEFAULT '',
  allocated_at DATETIME(6) NULL,
  used_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX mall_codes_code ON mall_codes (tenant_id, code);
CREATE INDEX mall_codes_batch ON mall_codes (tenant_id, batch_id, status, id);
CREATE INDEX mall_codes_redemption ON mall_codes (tenant_id, redemption_id);

CREATE TABLE mall_code_attempts (
  tenant_id VARCHAR(26) NOT NULL,
  subject VARCHAR(128) NOT NULL,
  window_start DATETIME(6) NOT NULL,
  attempts INT NOT NULL,
  PRIMARY KEY (tenant_id, subject, window_start)
);

CREATE TABLE mall_lottery_prizes (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  item_id VARCHAR(26) NOT NULL,
  position INT NOT NULL,
  name VARCHAR(200) NOT NULL,
  kind VARCHAR(16) NOT NULL,
  weight_bp INT NOT NULL,
  stock BIGINT NOT NULL,
  points BIGINT NOT NULL DEFAULT 0,
  coupon_template_id VARCHAR(26) NOT NULL DEFAULT '',
  prize_item_id VARCHAR(26) NOT NULL DEFAULT '',
  value_points BIGINT NOT NULL DEFAULT 0,
  retired BOOLEAN NOT NULL DEFAULT FALSE,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mall_lottery_prizes_item ON mall_lottery_prizes (tenant_id, item_id, retired, position);

CREATE TABLE mall_lottery_draws (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  item_id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  points_spent BIGINT NOT NULL,
  ledger_entry_id VARCHAR(64) NOT NULL DEFAULT '',
  random_bp INT NOT NULL,
  weights TEXT NOT NULL,
  drawn_prize_id VARCHAR(26) NOT NULL DEFAULT '',
  prize_id VARCHAR(26) NOT NULL DEFAULT '',
  prize_name VARCHAR(200) NOT NULL DEFAULT '',
  prize_kind VARCHAR(16) NOT NULL,
  fallback_reason VARCHAR(32) NOT NULL DEFAULT '',
  award TEXT NOT NULL,
  local_day VARCHAR(10) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mall_lottery_draws_item ON mall_lottery_draws (tenant_id, item_id, id);
CREATE INDEX mall_lottery_draws_limits ON mall_lottery_draws (tenant_id, member_id, item_id, created_at);

CREATE TABLE mall_lottery_days (
  tenant_id VARCHAR(26) NOT NULL,
  item_id VARCHAR(26) NOT NULL,
  local_day VARCHAR(10) NOT NULL,
  prizes INT NOT NULL DEFAULT 0,
  points BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, item_id, local_day)
);

-- +goose Down
DROP TABLE mall_lottery_days;
DROP TABLE mall_lottery_draws;
DROP TABLE mall_lottery_prizes;
DROP TABLE mall_code_attempts;
DROP TABLE mall_codes;
DROP TABLE mall_code_batches;
DROP TABLE coupons;
DROP TABLE coupon_templates;
DROP TABLE mall_redemptions;
DROP TABLE mall_items;
