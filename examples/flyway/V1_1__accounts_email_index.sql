-- Runs after V1 and before V2 (Flyway compares version parts numerically: 1 < 1.1 < 2 < 10).
CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);
