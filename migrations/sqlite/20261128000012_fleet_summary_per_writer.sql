-- The fleet summary per writer connection (issue 12) is MySQL/MariaDB's: there
-- concurrent DECNET writers deadlocked on its hot rows. SQLite lets one writer at a time
-- in, so nothing changes here.
SELECT 1;
