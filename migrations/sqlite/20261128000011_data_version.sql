-- The data version (issue 12). SQLite has one of its own, `PRAGMA data_version`, which
-- every commit of any connection or process changes (src/store/version.rs reads it), so
-- nothing is stored here. MySQL/MariaDB's migration 0011 keeps one with triggers.
SELECT 1;
