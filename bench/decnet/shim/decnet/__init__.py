"""Stand-ins for the DECNET modules that the seed's `decnet/web/db/sqlmodel_repo/ttp.py`
imports and the seed does not include (bench/decnet/run.py puts this folder first on
sys.path). Only what that file uses, faithful to DECNET's tables as SPEC §1 describes
them; the measured query code is DECNET's own, read from the seed."""
