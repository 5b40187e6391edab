"""Coordinates and administrative boundaries.

The store keeps WGS-84 longitude/latitude (degrees). Sources in China use three systems: WGS-84
(GPS, Tianditu), GCJ-02 (AMap, Tencent) and BD-09 (Baidu); a site records its system and is
converted once, on the way in. District boundaries come from the `cnmaps` package (AMap data,
converted by cnmaps to WGS-84).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # drawing and boundary libraries load only when a boundary is needed
    import geopandas as gpd

CHINA_LON = (73.4, 135.1)
"""China's longitude extent (WGS-84 degrees), generous by a fraction of a degree."""
CHINA_LAT = (3.8, 53.6)
"""China's latitude extent (WGS-84 degrees). A point outside the box is a typo (a missing digit,
swapped lon/lat) or another country's. Used by the config and by every staff sheet."""


def in_china(lon: float, lat: float) -> bool:
    """Whether a WGS-84 point (degrees) lies inside `CHINA_LON` x `CHINA_LAT`."""
    return CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """Convert a point from `crs` (``wgs84``, ``gcj02`` or ``bd09``) to WGS-84 degrees."""
    if crs == "wgs84":
        return lon, lat
    from cnmaps.geo import bd09_to_wgs84, gcj02_to_wgs84

    if crs == "gcj02":
        x, y = gcj02_to_wgs84(lon, lat)
    elif crs == "bd09":
        x, y = bd09_to_wgs84(lon, lat)
    else:
        raise ValueError(f"unknown coordinate system '{crs}': use wgs84, gcj02 or bd09")
    return float(x), float(y)


@lru_cache(maxsize=8)
def district_boundaries(province: str, city: str) -> gpd.GeoDataFrame:
    """The city's districts and counties (WGS-84 polygons), one row each: ``district``, geometry."""
    import geopandas as gpd
    from cnmaps import get_adm_maps

    maps = get_adm_maps(province=province, city=city, level="区县", wgs84=True)
    rows = [{"district": m["district"], "geometry": m["geometry"]} for m in maps]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def assign_districts(
    lons: list[float], lats: list[float], province: str, city: str
) -> list[str | None]:
    """The district of each WGS-84 point by point-in-polygon; None outside the city."""
    import shapely

    bounds = district_boundaries(province, city)
    points = shapely.points(lons, lats)
    tree = shapely.STRtree(bounds.geometry.values)
    point_idx, poly_idx = tree.query(points, predicate="within")
    out: list[str | None] = [None] * len(lons)
    names = bounds["district"].tolist()
    for p, g in zip(point_idx.tolist(), poly_idx.tolist(), strict=True):
        out[p] = names[g]
    return out
