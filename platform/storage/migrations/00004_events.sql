-- Events: what merchants' systems report (orders, check-ins, reviews…),
-- stored with the awards the rules gave for them, and the bookkeeping that
-- makes orders count once, refunds reverse exactly what an order earned,
-- check-in streaks and referrals work.
-- Written in the SQL that SQLite and MySQL/MariaDB both accept.

-- +goose Up

-- One row per accepted event. unique_key makes events that must happen
-- once per member (member_registered, the referral_completed events the
-- platform emits) unique per tenant; NULL for all others.
CREATE TABLE events (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  type VARCHAR(64) NOT NULL,
  occurred_at DATETIME(6) NOT NULL,
  received_at DATETIME(6) NOT NULL,
  attributes MEDIUMTEXT NOT NULL,
  points_delta BIGINT NOT NULL,
  growth_delta BIGINT NOT NULL,
  order_id VARCHAR(128) NULL,
  parent_event_id VARCHAR(26) NULL,
  unique_key VARCHAR(200) NULL,
  note VARCHAR(500) NOT NULL DEFAULT '',
  details TEXT NOT NULL,
  rule_errors TEXT NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_member ON events (tenant_id, member_id, id);
CREATE INDEX events_type ON events (tenant_id, type, id);
CREATE UNIQUE INDEX events_unique_key ON events (tenant_id, unique_key);

-- The awards an event earned, one per rule that matched. awarded_at is the
-- processing time, which (not occurred_at) decides the day, week and month
-- of the rules' limits; the usage indexes answer "points this rule gave
-- this member (or anyone) since t".
CREATE TABLE event_awards (
  tenant_id VARCHAR(26) NOT NULL,
  event_id VARCHAR(26) NOT NULL,
  rule_id VARCHAR(64) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  rule_name VARCHAR(200) NOT NULL,
  points BIGINT NOT NULL,
  growth BIGINT NOT NULL,
  capped BOOLEAN NOT NULL DEFAULT FALSE,
  note VARCHAR(500) NOT NULL DEFAULT '',
  awarded_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, event_id, rule_id)
);
CREATE INDEX event_awards_usage ON event_awards (tenant_id, rule_id, member_id, awarded_at);
CREATE INDEX event_awards_rule ON event_awards (tenant_id, rule_id, awarded_at);

-- One row per paid order: its primary key makes an order count once per
-- tenant, and it keeps what the order earned and what refunds have taken
-- back so far, so refunds never reverse more than the order earned.
CREATE TABLE event_orders (
  tenant_id VARCHAR(26) NOT NULL,
  order_id VARCHAR(128) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  event_id VARCHAR(26) NOT NULL,
  amount_cents BIGINT NOT NULL,
  points BIGINT NOT NULL,
  growth BIGINT NOT NULL,
  points_used BIGINT NULL,
  refunded_amount_cents BIGINT NOT NULL DEFAULT 0,
  refunded_points BIGINT NOT NULL DEFAULT 0,
  refunded_growth BIGINT NOT NULL DEFAULT 0,
  returned_points_used BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX event_orders_member ON event_orders (tenant_id, member_id);

-- One row per refund of an order; the key makes a refund count once.
-- refund_id is '' for a refund sent without one.
CREATE TABLE event_refunds (
  tenant_id VARCHAR(26) NOT NULL,
  order_id VARCHAR(128) NOT NULL,
  refund_id VARCHAR(128) NOT NULL,
  event_id VARCHAR(26) NOT NULL,
  amount_cents BIGINT NOT NULL,
  points BIGINT NOT NULL,
  growth BIGINT NOT NULL,
  points_returned BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, order_id, refund_id)
);

-- One row per member and local day with a check-in, carrying the streak
-- reached that day; the key makes a second check-in on a day award nothing.
CREATE TABLE event_checkins (
  tenant_id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  local_date VARCHAR(10) NOT NULL,
  streak BIGINT NOT NULL,
  event_id VARCHAR(26) NOT NULL,
  PRIMARY KEY (tenant_id, member_id, local_date)
);

-- Who referred whom (邀请有礼), stored at member_registered and completed
-- by the referee's first paid order. status: pending | completed | lapsed.
CREATE TABLE event_referrals (
  tenant_id VARCHAR(26) NOT NULL,
  referee_member_id VARCHAR(26) NOT NULL,
  referrer_member_id VARCHAR(26) NOT NULL,
  status VARCHAR(16) NOT NULL,
  registered_event_id VARCHAR(26) NOT NULL,
  completed_event_id VARCHAR(26) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, referee_member_id)
);
CREATE INDEX event_referrals_referrer ON event_referrals (tenant_id, referrer_member_id);

-- +goose Down
DROP TABLE event_referrals;
DROP TABLE event_checkins;
DROP TABLE event_refunds;
DROP TABLE event_orders;
DROP TABLE event_awards;
DROP TABLE events;
