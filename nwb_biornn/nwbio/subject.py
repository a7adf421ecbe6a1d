"""The subject fields DANDI requires, checked before anything is written.

Species and sex are normalized from common spellings (``mouse`` -> ``Mus musculus``, ``male`` -> ``M``), the age
must be an ISO 8601 duration unless there is a date of birth, and every problem is reported at once with the
command-line option that fixes it.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

from nwb_biornn.core.errors import UserError

SUBJECT_OPTIONS = {"species": "--subject-species", "sex": "--subject-sex", "age": "--subject-age"}
_SPECIES_ALIASES = {"mouse": "Mus musculus", "house mouse": "Mus musculus", "rat": "Rattus norvegicus",
                    "human": "Homo sapiens", "rhesus macaque": "Macaca mulatta", "macaque": "Macaca mulatta"}
_SEX_ALIASES = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_DURATION = r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
_AGE = re.compile(rf"^{_DURATION}(/{_DURATION})?$|^/{_DURATION}$")
_BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+")


def subject_for_dandi(subject: dict, overrides: dict | None = None) -> dict:
    """The subject fields DANDI requires, from the source's subject and the user's overrides.

    Parameters
    ----------
    subject
        ``Session.subject``: ``subject_id``, ``species``, ``sex``, ``age``, ``date_of_birth`` (None if absent).
    overrides
        ``species``, ``sex`` and ``age`` given on the command line; None values are ignored.

    Returns
    -------
    dict
        ``subject_id``, ``species`` (Latin binomial or NCBI taxon URL), ``sex`` (M/F/O/U), ``age`` (ISO 8601
        duration) or ``date_of_birth`` (tz-aware datetime), plus any other fields of ``subject``.

    Raises
    ------
    UserError
        Naming every missing or malformed field and the option that supplies it.

    Examples
    --------
    >>> subject_for_dandi({"subject_id": "m1", "species": "mouse", "sex": "male", "age": None},
    ...                   {"age": "P60D"})["species"]
    'Mus musculus'
    """
    values = {key: value for key, value in dict(subject or {}).items() if value not in (None, "")}
    values.update({key: value for key, value in (overrides or {}).items() if value not in (None, "")})
    problems = []
    subject_id = str(values.get("subject_id", ""))
    if not subject_id or "/" in subject_id:
        problems.append("subject_id is missing or contains '/' (fix the source file)")
    species = str(values.get("species", ""))
    species = _SPECIES_ALIASES.get(species.lower(), species)
    if not (_BINOMIAL.match(species) or species.startswith(("http://purl.obolibrary.org/obo/NCBITaxon_",
                                                              "https://purl.obolibrary.org/obo/NCBITaxon_"))):
        problems.append(f"species {species or 'missing'} is not a Latin binomial or NCBI taxon URL "
                        f"({SUBJECT_OPTIONS['species']} 'Mus musculus')")
    sex = str(values.get("sex", ""))
    sex = _SEX_ALIASES.get(sex.lower(), sex)
    if sex not in ("M", "F", "O", "U"):
        problems.append(f"sex {sex or 'missing'} is not M, F, O or U ({SUBJECT_OPTIONS['sex']} U)")
    age = str(values.get("age", ""))
    birth = _as_datetime(values.get("date_of_birth"))
    if not _AGE.match(age) and birth is None:
        problems.append(f"age {age or 'missing'} is not an ISO 8601 duration and there is no date_of_birth "
                        f"({SUBJECT_OPTIONS['age']} P90D)")
    if problems:
        raise UserError("the model file would fail DANDI validation: " + "; ".join(problems))
    values.update(subject_id=subject_id, species=species, sex=sex, age=age if _AGE.match(age) else None,
                  date_of_birth=birth)
    return values


def _as_datetime(value) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
