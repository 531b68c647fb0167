-- The points ledger: append-only entries, the lots points are earned in
-- (with their expiry and remainders), which lots each entry drew, a balance
-- row per member (a cache of the ledger), growth changes, checkout holds and
-- donation causes. See docs/ledger.md.

-- +goose Up

-- One row per member with ledger activity. available + pending equals the
-- sum of the member's entries; seq is the last entry's sequence number;
-- next_due_at is never later than the earliest moment something of the
-- member falls due (a pending lot, a lot's expiry, a hold's expiry), so
-- sweeps and reads find due accounts through an index.
CREATE TABLE point_balances (
  tenant_id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  available BIGINT NOT NULL DEFAULT 0,
  pending BIGINT NOT NULL DEFAULT 0,
  debt BIGINT NOT NULL DEFAULT 0,
  lifetime_earned BIGINT NOT NULL DEFAULT 0,
  growth BIGINT NOT NULL DEFAULT 0,
  seq BIGINT NOT NULL DEFAULT 0,
  next_due_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, member_id)
);
CREATE INDEX point_balances_due ON point_balances (tenant_id, next_due_at);

-- Append-only: rows are never updated or deleted. seq numbers a member's
-- entries 1, 2, 3, ... so two writers can never interleave.
CREATE TABLE ledger_entries (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  seq BIGINT NOT NULL,
  kind VARCHAR(16) NOT NULL,
  points BIGINT NOT NULL,
  balance_after BIGINT NOT NULL,
  reason VARCHAR(500) NOT NULL,
  ref VARCHAR(255) NOT NULL,
  order_id VARCHAR(128) NOT NULL,
  source VARCHAR(16) NOT NULL,
  reverses_id VARCHAR(26) NULL,
  shortfall BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX ledger_entries_member_seq ON ledger_entries (tenant_id, member_id, seq);
CREATE UNIQUE INDEX ledger_entries_reverses ON ledger_entries (tenant_id, reverses_id);
CREATE INDEX ledger_entries_member_time ON ledger_entries (tenant_id, member_id, created_at);
CREATE INDEX ledger_entries_member_kind ON ledger_entries (tenant_id, member_id, kind, created_at);

-- A lot is the points one credit brought. state is pending (not spendable
-- yet), open (remaining > 0, spendable) or closed (remaining = 0).
CREATE TABLE point_lots (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  entry_id VARCHAR(26) NOT NULL,
  order_id VARCHAR(128) NOT NULL,
  points BIGINT NOT NULL,
  remaining BIGINT NOT NULL,
  state VARCHAR(8) NOT NULL,
  pending_until DATETIME(6) NULL,
  expires_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX point_lots_member_state ON point_lots (tenant_id, member_id, state, expires_at);
CREATE INDEX point_lots_member_order ON point_lots (tenant_id, member_id, order_id);

-- Which lots an entry drew (positive points) or gave back to (negative).
CREATE TABLE point_draws (
  tenant_id VARCHAR(26) NOT NULL,
  entry_id VARCHAR(26) NOT NULL,
  lot_id VARCHAR(26) NOT NULL,
  points BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, entry_id, lot_id)
);

-- Every change of a member's growth, for growth over a rolling window.
CREATE TABLE growth_changes (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  delta BIGINT NOT NULL,
  entry_id VARCHAR(26) NOT NULL,
  ref VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX growth_changes_member ON growth_changes (tenant_id, member_id, created_at);

-- Points frozen for a checkout (积分抵扣) until captured or released.
CREATE TABLE point_holds (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  member_id VARCHAR(26) NOT NULL,
  order_id VARCHAR(128) NOT NULL,
  points BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  entry_id VARCHAR(26) NOT NULL,
  release_entry_id VARCHAR(26) NULL,
  expires_at DATETIME(6) NOT NULL,
  captured_at DATETIME(6) NULL,
  released_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX point_holds_member ON point_holds (tenant_id, member_id, status, expires_at);
CREATE INDEX point_holds_order ON point_holds (tenant_id, order_id);

-- Tenant-defined causes members donate points to (积分捐赠).
CREATE TABLE point_causes (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(100) NOT NULL,
  description TEXT NOT NULL,
  total_points BIGINT NOT NULL DEFAULT 0,
  donations BIGINT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX point_causes_name ON point_causes (tenant_id, name);

-- +goose Down
DROP TABLE point_causes;
DROP TABLE point_holds;
DROP TABLE growth_changes;
DROP TABLE point_draws;
DROP TABLE point_lots;
DROP TABLE ledger_entries;
DROP TABLE point_balances;
