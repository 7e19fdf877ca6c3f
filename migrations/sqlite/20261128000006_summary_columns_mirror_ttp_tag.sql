-- Intentionally empty on SQLite (the MySQL migration of the same version makes summary
-- columns mirror ttp_tag's types and collations). SQLite enforces no VARCHAR width, and
-- both ttp_tag and the summaries compare with SQLite's default BINARY collation, so the
-- summaries already accept every value and group exactly as ttp_tag does.
SELECT 1;
