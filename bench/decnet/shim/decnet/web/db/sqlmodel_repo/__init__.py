"""Stand-in package: the seed's ttp.py is loaded as its `ttp` module by bench/decnet/seed.py."""
