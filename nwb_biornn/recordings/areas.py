"""The area rule: unit locations and stimulation sites -> model areas.

Labs name stimulation sites as they do in papers (``ALM``, ``vS1``, ``M1``); units carry Allen CCF names or
acronyms (``Secondary motor area, layer 5``, ``MOs5``) or lab names inside JSON or ``key: value`` strings. The
rule that makes them meet, applied by :func:`area_of` to any location text:

1. a user override (``area_map``: fnmatch pattern -> area, case-insensitive, first match wins) applied to the
   raw text and to the extracted region name;
2. the region name is extracted from JSON (``brain_area``, ``brain_regions``, ``brain_region``, ``area``,
   ``location`` keys; lists give their first entry) or ``"brain_region: X; ..."`` strings;
3. hemisphere words (``left``, ``right``, ``bilateral``...) and cortical layers (``, layer 5``, ``MOs5``) are
   stripped;
4. a lab name or alias (:data:`ALIASES`, case-insensitive) gives its canonical area;
5. a CCF name gives its acronym, and a CCF acronym that is an alias of a lab area gives that area
   (``Secondary motor area`` -> ``MOs`` -> ``ALM``);
6. anything else is kept as the cleaned text (``"unknown"`` when empty).

Examples
--------
>>> area_of("Secondary motor area, layer 5")
'ALM'
>>> area_of('{"brain_regions": "left ALM"}')
'ALM'
>>> area_of("brain_region: ALM; brain_subregion: N/A; cortical_layer: 5; hemisphere: left")
'ALM'
>>> area_of("SSp-bfd4")
'vS1'
>>> area_of("adn", {"adn": "ADN"})
'ADN'
"""
from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from functools import lru_cache
from pathlib import Path

from nwb_biornn.core.errors import UserError

UNKNOWN_AREA = "unknown"

ALIASES = {
    "ALM": ("ALM", "anterior lateral motor cortex", "anterior lateral motor", "MOs", "Secondary motor area",
            "M2", "frontal cortex"),
    "M1": ("M1", "MOp", "Primary motor area", "primary motor cortex"),
    "tjM1": ("tjM1", "tongue-jaw M1", "tongue jaw M1", "tongue-jaw motor cortex"),
    "vS1": ("vS1", "wS1", "S1", "SSp-bfd", "barrel field", "barrel cortex",
            "Primary somatosensory area, barrel field", "vibrissal S1", "whisker S1"),
    "vS2": ("vS2", "wS2", "S2", "SSs", "Supplemental somatosensory area"),
    "wM1": ("wM1", "vM1", "whisker M1"),
    "wM2": ("wM2", "whisker M2"),
    "Thalamus": ("Thalamus", "TH", "thalamic", "motor thalamus", "VAL", "VM", "VAL-VM", "VM/VAL",
                 "Ventral anterior-lateral complex of the thalamus", "Ventral medial nucleus of the thalamus"),
    "Striatum": ("Striatum", "STR", "CP", "Caudoputamen", "striatal"),
    "PONS": ("PONS", "Pons", "P"),
    "PPN": ("PPN", "Pedunculopontine nucleus"),
    "DN": ("DN", "dentate", "Dentate nucleus"),
    "FN": ("FN", "fastigial", "Fastigial nucleus"),
}
"""Canonical lab area -> names and CCF terms that mean it (matched case-insensitively after cleaning)."""

CCF_STRUCTURES = Path(__file__).with_name("allen_ccf_structures.json")
"""The Allen CCF structure names and acronyms (source and licence in ``allen_ccf_structures.md`` beside it)."""

_HEMISPHERE = re.compile(r"\b(left|right|bilateral|contralateral|ipsilateral|both|hemisphere)\b", re.I)
_LAYER = re.compile(r"\s*,\s*(1|2/3|2|3|4|5|6a|6b|6)\s*$", re.I)
_LAYER_WORDS = re.compile(r"\s*[,/]?\s*\blayer\s*(1|2/3|2|3|4|5|6a|6b|6)\b", re.I)
_REGION_KEYS = ("brain_area", "brain_regions", "brain_region", "area", "location", "region")


@lru_cache(maxsize=1)
def _ccf_terms() -> tuple[dict, dict]:
    """(lower-case CCF name -> acronym, acronym -> name) from the vendored structure list (``CCF_STRUCTURES``)."""
    data = json.loads(CCF_STRUCTURES.read_text())
    name_to_acronym = {name.lower(): acronym for name, acronym in zip(data["names"], data["acronyms"])}
    acronym_to_name = dict(zip(data["acronyms"], data["names"]))
    return name_to_acronym, acronym_to_name


@lru_cache(maxsize=1)
def _alias_lookup() -> dict:
    return {alias.lower(): area for area, aliases in ALIASES.items() for alias in aliases}


def region_text(text: str) -> str:
    """The region name inside a location string: JSON, ``key: value; ...`` pairs, or plain text."""
    text = str(text).strip()
    if text[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if value is not None:
            return _region_from_json(value)
    if (":" in text and ";" in text) or text.lower().startswith(("brain_region:", "brain_area:", "area:")):
        pairs = dict(part.split(":", 1) for part in text.split(";") if ":" in part)
        pairs = {key.strip().lower(): value.strip() for key, value in pairs.items()}
        for key in _REGION_KEYS:
            if pairs.get(key, "N/A") not in ("", "N/A", "None", "nan"):
                return pairs[key]
    return text


def _region_from_json(value) -> str:
    if isinstance(value, list):
        names = list(dict.fromkeys(_region_from_json(item) for item in value))
        names = [name for name in names if name]
        return names[0] if len(names) == 1 else "+".join(names)
    if isinstance(value, dict):
        for key in _REGION_KEYS:
            if value.get(key) not in (None, "", "N/A"):
                return _region_from_json(value[key])
        return ""
    return str(value).strip()


def _strip_layer(name: str) -> str:
    name = _LAYER_WORDS.sub("", name)
    return _LAYER.sub("", name) if "," in name else name


def _lookup(name: str) -> str | None:
    """Area of an exact alias, CCF name or CCF acronym (layers folded into their parent), else None."""
    aliases = _alias_lookup()
    if name.lower() in aliases:
        return aliases[name.lower()]
    name_to_acronym, acronym_to_name = _ccf_terms()
    acronym = name_to_acronym.get(name.lower(), name if name in acronym_to_name else None)
    if acronym is None:
        return None
    parent = _strip_layer(acronym_to_name[acronym])
    acronym = name_to_acronym.get(parent.lower(), acronym)
    return aliases.get(acronym.lower(), acronym)


def canonical_area(name: str) -> str:
    """Map one region name (no JSON) to its model area; see the module docstring."""
    name = re.sub(r"\s+", " ", _HEMISPHERE.sub(" ", str(name))).strip(" -_,;")
    if not name or name.lower() in ("n/a", "none", "nan", "unknown"):
        return UNKNOWN_AREA
    without_layer = _strip_layer(name).strip(" -_,;")
    return _lookup(name) or _lookup(without_layer) or without_layer or name


def area_of(text, area_map: dict | None = None) -> str:
    """Model area of a unit or stimulation-site location text (see the module docstring for the rule)."""
    if text is None:
        return UNKNOWN_AREA
    raw = str(text).strip()
    region = region_text(raw)
    override = _override(area_map, raw, region)
    if override is not None:
        return override
    if "+" in region:
        return "+".join(dict.fromkeys(canonical_area(part) for part in region.split("+")))
    return canonical_area(region)


def _override(area_map: dict | None, *texts: str) -> str | None:
    for pattern, area in (area_map or {}).items():
        for text in texts:
            if fnmatch.fnmatchcase(text.lower(), pattern.lower()):
                return area
    return None


def areas_in_text(text: str, area_map: dict | None = None) -> list[str]:
    """Canonical areas named anywhere in free text (a column or code description), in order of appearance.

    Examples
    --------
    >>> areas_in_text("1 = photoinhibition of left ALM in early delay")
    ['ALM']
    """
    found = []
    for pattern, area in (area_map or {}).items():
        if fnmatch.fnmatchcase(text.lower(), f"*{pattern.lower()}*"):
            found.append((text.lower().find(pattern.lower().strip("*")), area))
    for alias, area in _alias_lookup().items():
        if len(alias) < 2 or alias in ("p", "s1", "s2", "m2", "th", "cp"):
            continue
        match = re.search(rf"(?<![A-Za-z0-9]){re.escape(alias)}(?![A-Za-z0-9])", text, re.I)
        if match:
            found.append((match.start(), area))
    return list(dict.fromkeys(area for _, area in sorted(found)))


_COORDINATE = re.compile(r"(?:coordinate_|unit_)?(ap|ml|dv)(?:_location)?[\"']?\s*[:=]\s*[\"']?(-?\d+(?:\.\d+)?)", re.I)


def coordinates_in_text(text) -> dict:
    """AP/ML/DV coordinates written in a location text (``coordinate_ap: 2.50`` in DataJoint exports,
    ``"ap_location": 2.5`` in JSON locations), as floats by lower-case axis name.

    Examples
    --------
    >>> coordinates_in_text("brain_region: ALM; coordinate_ref: bregma; coordinate_ap: 2.50; coordinate_ml: -1.50")
    {'ap': 2.5, 'ml': -1.5}
    >>> coordinates_in_text('[{"brain_area": "ALM", "ap_location": 2.5, "ml_location": 1.5}]')
    {'ap': 2.5, 'ml': 1.5}
    """
    found = {}
    for axis, value in _COORDINATE.findall(str(text or "")):
        found.setdefault(axis.lower(), float(value))
    return found


def parse_area_overrides(text: str) -> dict[str, str]:
    """Parse ``--areas``: a TOML file path (``pattern = "AREA"`` lines, optionally under ``[areas]``) or
    inline ``'pattern=AREA,pattern=AREA'``.

    Examples
    --------
    >>> parse_area_overrides("adn=ADN, Field CA1*=CA1")
    {'adn': 'ADN', 'Field CA1*': 'CA1'}
    """
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        try:
            table = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise UserError(f"cannot read area overrides from {text}: {error}") from None
        table = table.get("areas", table)
        if not all(isinstance(value, str) for value in table.values()):
            raise UserError(f"area overrides in {text} must be 'pattern = \"AREA\"' lines")
        return dict(table)
    overrides = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        pattern, sep, area = item.partition("=")
        if not sep or not pattern.strip() or not area.strip():
            raise UserError(f"bad area override {item!r}: write 'pattern=AREA,pattern=AREA' or a TOML file")
        overrides[pattern.strip()] = area.strip()
    return overrides
