-- Failed logins, counted per account and per client address in one-minute
-- buckets, so that every replica enforces the same login limits. A platform
-- table, not tenant-owned: subject_key is the HMAC-SHA256 (hex) of the
-- normalised email or the client address, never the email or address itself.
-- Written in the SQL that SQLite and MySQL/MariaDB both accept.

-- +goose Up
CREATE TABLE login_failures (
  subject_key VARCHAR(64) NOT NULL,
  bucket BIGINT NOT NULL,
  n INT NOT NULL,
  PRIMARY KEY (subject_key, bucket)
);
CREATE INDEX login_failures_bucket ON login_failures (bucket);

-- +goose Down
DROP TABLE login_failures;
