-- Repeatable migrations run after every versioned one.
CREATE OR REPLACE VIEW active_accounts AS SELECT id, email FROM accounts;
