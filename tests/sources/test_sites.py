"""One site resolution for every sheet that names sites (issue 16)."""

from __future__ import annotations

import pandas as pd

from envwatch.sources.sites import Resolved, SiteRegistry, district_disagreements, resolve

KNOWN = pd.DataFrame(
    {
        "site_id": ["1236A", "NB-YY01", "区控/梁桥", "浙江省/梁桥"],
        "name": ["龙赛医院", "余姚城区", "梁桥", "梁桥"],
        "kind": ["air", "air", "water", "water"],
    }
)


def test_an_id_or_a_name_of_one_site_resolves_ignoring_width_and_spaces() -> None:
    air = SiteRegistry(KNOWN, "air")
    assert resolve(air, ["１２３６Ａ"], noun="station", add_sites=False) == Resolved(
        "1236A", "龙赛医院", False
    )
    assert resolve(air, ["", "余姚 城区"], noun="station", add_sites=False) == Resolved(
        "NB-YY01", "余姚城区", False
    )


def test_a_shared_name_asks_for_the_id_and_an_unknown_one_suggests() -> None:
    water = SiteRegistry(KNOWN, "water")
    shared = resolve(water, ["梁桥"], noun="section", add_sites=True)
    assert (
        shared == "section '梁桥' is the name of 2 sections; write the id: 区控/梁桥, 浙江省/梁桥"
    )
    air = SiteRegistry(KNOWN, "air")
    unknown = resolve(air, ["龙赛医"], noun="station", add_sites=False)
    assert isinstance(unknown, str)
    assert unknown.startswith("unknown station '龙赛医'; did you mean 龙赛医院 (1236A)?")
    assert "--add-sites" in unknown
    assert resolve(air, ["NB-X1", "新站"], noun="station", add_sites=True, name="新站") == (
        Resolved("NB-X1", "新站", True)
    )


def test_a_stated_district_that_the_coordinates_contradict_is_reported() -> None:
    sites = pd.DataFrame(
        {
            "site_id": ["A", "B", "C", "D"],
            "district_stated": ["北仑", "镇海区", None, "余姚市"],
            "district": ["北仑区", "北仑区", "江北区", None],
        }
    )
    got = district_disagreements(sites)
    assert [(r.site_id, r.raw) for r in got] == [("B", "镇海区"), ("D", "余姚市")]
    assert "its coordinates lie in 北仑区; 北仑区 is used" in got[0].reason
    assert "not in any district" in got[1].reason
