"""Stand-in for DECNET's `decnet.ttp.attack_stix` (not in the seed; DECNET reads MITRE's
STIX bundle): the technique's attack.mitre.org URL, from the same catalog as
attack_catalog, loaded on the first call; unknown ids give None."""

from decnet.ttp.attack_catalog import _catalog


def mitre_url_for(technique_id):
    if not technique_id:
        return None
    return _catalog()[1].get(technique_id)
