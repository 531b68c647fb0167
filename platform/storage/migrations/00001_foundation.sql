-- Foundation: users and sessions, tenants, staff, API keys, casbin's policy
-- table, the audit log, members and idempotency keys.
-- Written in the SQL that SQLite and MySQL/MariaDB both accept.

-- +goose Up
CREATE TABLE users (
  id VARCHAR(26) NOT NULL,
  email VARCHAR(254) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  is_platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE sessions (
  id VARCHAR(26) NOT NULL,
  token_hash CHAR(64) NOT NULL,
  user_id VARCHAR(26) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  revoked_at DATETIME(6) NULL,
  PRIMARY KEY (id)
);
CREATE UNIQUE INDEX sessions_token_hash ON sessions (token_hash);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE tenants (
  id VARCHAR(26) NOT NULL,
  name VARCHAR(200) NOT NULL,
  status VARCHAR(16) NOT NULL,
  time_zone VARCHAR(64) NOT NULL,
  currency CHAR(3) NOT NULL,
  points_expiry_months INT NOT NULL,
  points_per_unit INT NOT NULL,
  max_deduction_percent INT NOT NULL,
  points_pending_days INT NOT NULL DEFAULT 0,
  refund_policy VARCHAR(16) NOT NULL DEFAULT 'to_zero',
  transfers_enabled BOOLEAN NOT NULL DEFAULT FALSE,
  transfer_daily_cap BIGINT NOT NULL DEFAULT 0,
  hold_minutes INT NOT NULL DEFAULT 15,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
);

CREATE TABLE tenant_staff (
  tenant_id VARCHAR(26) NOT NULL,
  user_id VARCHAR(26) NOT NULL,
  role VARCHAR(16) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tenant_staff_user ON tenant_staff (user_id);

CREATE TABLE api_keys (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  name VARCHAR(100) NOT NULL,
  role VARCHAR(16) NOT NULL,
  prefix VARCHAR(16) NOT NULL,
  key_hash CHAR(64) NOT NULL,
  created_by VARCHAR(64) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  last_used_at DATETIME(6) NULL,
  revoked_at DATETIME(6) NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);

CREATE TABLE casbin_rule (
  id BIGINT NOT NULL AUTO_INCREMENT,
  ptype VARCHAR(100) NOT NULL DEFAULT '',
  v0 VARCHAR(100) NOT NULL DEFAULT '',
  v1 VARCHAR(100) NOT NULL DEFAULT '',
  v2 VARCHAR(100) NOT NULL DEFAULT '',
  v3 VARCHAR(100) NOT NULL DEFAULT '',
  v4 VARCHAR(100) NOT NULL DEFAULT '',
  v5 VARCHAR(100) NOT NULL DEFAULT '',
  PRIMARY KEY (id)
);
CREATE UNIQUE INDEX idx_casbin_rule ON casbin_rule (ptype, v0, v1, v2, v3, v4, v5);

CREATE TABLE policy_version (
  id INT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (id)
);
INSERT INTO policy_version (id, version) VALUES (1, 1);

CREATE TABLE audit_log (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  actor VARCHAR(64) NOT NULL,
  action VARCHAR(64) NOT NULL,
  target_type VARCHAR(32) NOT NULL,
  target_id VARCHAR(64) NOT NULL,
  details TEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE members (
  tenant_id VARCHAR(26) NOT NULL,
  id VARCHAR(26) NOT NULL,
  external_id VARCHAR(128) NOT NULL,
  name VARCHAR(200) NOT NULL,
  phone VARCHAR(32) NOT NULL,
  birthday VARCHAR(10) NOT NULL,
  erased_at DATETIME(6) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX members_external ON members (tenant_id, external_id);
CREATE INDEX members_phone ON members (tenant_id, phone);

CREATE TABLE idempotency_keys (
  tenant_id VARCHAR(26) NOT NULL,
  idem_key VARCHAR(255) NOT NULL,
  fingerprint CHAR(64) NOT NULL,
  status INT NOT NULL,
  response MEDIUMTEXT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (tenant_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE members;
DROP TABLE audit_log;
DROP TABLE policy_version;
DROP TABLE casbin_rule;
DROP TABLE api_keys;
DROP TABLE tenant_staff;
DROP TABLE tenants;
DROP TABLE sessions;
DROP TABLE users;
