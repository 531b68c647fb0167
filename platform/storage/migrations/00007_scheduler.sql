-- The scheduler: the lease that makes one replica the one that runs jobs,
-- and the record of job runs, whose unique run key makes a run happen once.
-- Both are platform tables, not tenant-owned: job_runs.tenant_id names the
-- tenant a per-tenant run was for, and is '' for platform-wide runs.
-- Written in the SQL that SQLite and MySQL/MariaDB both accept.

-- +goose Up
CREATE TABLE scheduler_leases (
  name VARCHAR(64) NOT NULL,
  holder VARCHAR(128) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  PRIMARY KEY (name)
);

CREATE TABLE job_runs (
  id VARCHAR(26) NOT NULL,
  job VARCHAR(64) NOT NULL,
  tenant_id VARCHAR(26) NOT NULL,
  run_key VARCHAR(64) NOT NULL,
  status VARCHAR(16) NOT NULL,
  attempts INT NOT NULL,
  holder VARCHAR(128) NOT NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  result TEXT NOT NULL,
  error TEXT NOT NULL,
  PRIMARY KEY (id)
);
CREATE UNIQUE INDEX job_runs_key ON job_runs (job, tenant_id, run_key);
CREATE INDEX job_runs_job_started ON job_runs (job, started_at);
CREATE INDEX job_runs_started ON job_runs (started_at);

-- +goose Down
DROP TABLE job_runs;
DROP TABLE scheduler_leases;
