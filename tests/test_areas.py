import pytest

from nwb_biornn.core.errors import UserError
from nwb_biornn.recordings.areas import UNKNOWN_AREA, area_of, areas_in_text, parse_area_overrides


@pytest.mark.parametrize("text, area", [
    ("ALM", "ALM"),
    ("left ALM", "ALM"),
    ("bilateral ALM", "ALM"),
    ("Secondary motor area", "ALM"),
    ("Secondary motor area, layer 2/3", "ALM"),
    ("MOs5", "ALM"),
    ("Primary motor area, Layer 5", "M1"),
    ("MOp", "M1"),
    ("SSp-bfd4", "vS1"),
    ("Primary somatosensory area, barrel field, layer 4", "vS1"),
    ("wS1", "vS1"),
    ("tjM1", "tjM1"),
    ("Ventral medial nucleus of the thalamus", "Thalamus"),
    ("left-Thalamus", "Thalamus"),
    ("Ventral posteromedial nucleus of the thalamus", "VPM"),
    ("Anterior cingulate area, ventral part, 6a", "ACAv"),
    ("Ectorhinal area/Layer 5", "ECT"),
    ("CA1", "CA1"),
    ("adn", "adn"),
    ("", UNKNOWN_AREA),
    ("N/A", UNKNOWN_AREA),
    (None, UNKNOWN_AREA),
])
def test_area_rule_meets_lab_names_ccf_names_and_acronyms(text, area):
    assert area_of(text) == area


def test_structured_locations_of_real_files():
    economo = "brain_region: ALM; brain_subregion: N/A; cortical_layer: 5; hemisphere: left; " \
              "brain_location_full_name: N/A"
    assert area_of(economo) == "ALM"
    assert area_of('{"brain_regions": "left ALM"}') == "ALM"
    assert area_of('[{"brain_area": "ALM", "hemisphere": "left"}, {"brain_area": "ALM", "ap_location": 2.5}]') == "ALM"
    assert area_of('[{"brain_area": "ALM"}, {"brain_area": "Thalamus"}]') == "ALM+Thalamus"


def test_user_override_wins_and_matches_patterns_case_insensitively():
    overrides = {"field ca1*": "HPC", "MOs*": "wM2"}
    assert area_of("Field CA1, pyramidal layer", overrides) == "HPC"
    assert area_of("MOs5", overrides) == "wM2"
    assert area_of("Secondary motor area", overrides) == "ALM"


def test_areas_in_text_finds_names_in_order_and_ignores_ambiguous_short_aliases():
    assert areas_in_text("photoinhibition of bilateral ALM, then the thalamus") == ["ALM", "Thalamus"]
    assert areas_in_text("PPN stimulation at the go cue, P = 0.05") == ["PPN"]
    assert areas_in_text("excitation_duration: 0.5") == []


def test_parse_area_overrides_inline_and_toml(tmp_path):
    assert parse_area_overrides("adn=ADN, Field CA1*=CA1") == {"adn": "ADN", "Field CA1*": "CA1"}
    path = tmp_path / "areas.toml"
    path.write_text('[areas]\n"MOs*" = "wM2"\nadn = "ADN"\n')
    assert parse_area_overrides(str(path)) == {"MOs*": "wM2", "adn": "ADN"}


@pytest.mark.parametrize("text", ["adn", "adn=", "=ADN"])
def test_bad_inline_overrides_raise_user_error(text):
    with pytest.raises(UserError, match="pattern=AREA"):
        parse_area_overrides(text)


def test_unreadable_toml_overrides_raise_user_error(tmp_path):
    path = tmp_path / "areas.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(UserError, match="cannot read area overrides"):
        parse_area_overrides(str(path))
