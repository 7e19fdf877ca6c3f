"""Runs the real validators on exported documents (called by tests/it/exports/validators.rs
with the Python of .ci/venv; requirements pinned in .ci/requirements-exports.txt).

  validate.py stix ACCEPTED_CODES BUNDLE...   stix2-validator 3.3.2: valid in its default mode
                                              (refs enforced); under --strict only the codes
                                              in ACCEPTED_CODES (comma-separated) remain
  validate.py misp BUNDLE EVENT               misp-stix's conversion of BUNDLE is a subset of
                                              EVENT, which pymisp.MISPEvent loads
  validate.py pymisp EVENT...                 pymisp.MISPEvent loads each EVENT
Prints one line per failure and exits 1 on any.
"""
import json
import re
import sys

failures = []


def codes(messages):
    return {int(m) for msg in messages for m in re.findall(r"\{(\d+)\}", str(msg))}


def stix(accepted, files):
    from stix2validator import ValidationOptions, validate_file

    accepted = {int(c) for c in accepted.split(",") if c}
    for f in files:
        lenient = validate_file(f, ValidationOptions(version="2.1", enforce_refs=True))
        if not lenient.is_valid:
            errs = [str(e) for o in lenient.object_results for e in o.errors]
            failures.append(f"{f}: invalid in default mode: {errs[:5]}")
        strict = validate_file(f, ValidationOptions(version="2.1", strict=True))
        got = codes(e for o in strict.object_results for e in o.errors)
        extra = got - accepted
        if extra:
            msgs = [str(e) for o in strict.object_results for e in o.errors]
            failures.append(f"{f}: --strict codes {sorted(extra)} not accepted: {msgs[:5]}")
        print(f"{f}: strict codes {sorted(got)}")


def norm_attr(a):
    return (a.get("type"), str(a.get("value")))


def norm_obj(o):
    return (o.get("name"), tuple(sorted((a.get("object_relation"), str(a.get("value"))) for a in o.get("Attribute", []))))


def clusters(e):
    return {(g.get("type"), c.get("uuid"), c.get("value")) for g in e.get("Galaxy", []) for c in g.get("GalaxyCluster", [])}


def misp(bundle_path, event_path):
    from misp_stix_converter import ExternalSTIX2toMISPParser
    from pymisp import MISPEvent
    import stix2

    with open(bundle_path) as f:
        bundle = stix2.parse(f.read(), allow_custom=True)
    parser = ExternalSTIX2toMISPParser()
    parser.load_stix_bundle(bundle)
    parser.parse_stix_bundle()
    theirs = json.loads(parser.misp_event.to_json())
    with open(event_path) as f:
        ours = json.load(f)
    checks = [
        ("attributes", {norm_attr(a) for a in theirs.get("Attribute", [])}, {norm_attr(a) for a in ours.get("Attribute", [])}),
        ("objects", {norm_obj(o) for o in theirs.get("Object", [])}, {norm_obj(o) for o in ours.get("Object", [])}),
        ("tags", {t["name"] for t in theirs.get("Tag", [])}, {t["name"] for t in ours.get("Tag", [])}),
        ("galaxy clusters", clusters(theirs), clusters(ours)),
        ("uuid", {theirs.get("uuid")}, {ours.get("uuid")}),
    ]
    for what, t, o in checks:
        missing = t - o
        if missing:
            failures.append(f"{event_path}: misp-stix's {what} missing from ours: {sorted(map(str, missing))[:5]}")
    if not any(a.get("type") == "ip-src" for a in ours.get("Attribute", [])):
        failures.append(f"{event_path}: no ip-src attribute")
    for key in ("date", "threat_level_id", "analysis"):
        if key not in ours:
            failures.append(f"{event_path}: no {key}")
    event = MISPEvent()
    event.from_dict(**ours)
    json.loads(event.to_json())
    print(f"{event_path}: superset of misp-stix ({len(theirs.get('Attribute', []))} attributes, {len(clusters(theirs))} clusters)")


def pymisp_load(files):
    from pymisp import MISPEvent

    for f in files:
        with open(f) as fh:
            event = MISPEvent()
            event.from_dict(**json.load(fh))
            json.loads(event.to_json())


if sys.argv[1] == "stix":
    stix(sys.argv[2], sys.argv[3:])
elif sys.argv[1] == "misp":
    misp(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "pymisp":
    pymisp_load(sys.argv[2:])
for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
