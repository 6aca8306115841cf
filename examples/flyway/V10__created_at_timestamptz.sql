SET lock_timeout = '2s';

-- timestamp -> timestamptz is free only when the session TimeZone is UTC (PostgreSQL 12+); otherwise
-- every row is rewritten under ACCESS EXCLUSIVE. `timezone-utc` in [tool.foreshock] says which.
ALTER TABLE accounts ALTER COLUMN created_at TYPE timestamptz;
