"""Point-in-polygon for district lookup (GeoJSON rings of (lon, lat) pairs)."""

from __future__ import annotations

from typing import List, Sequence, Tuple

Ring = Sequence[Tuple[float, float]]


def point_in_ring(ring: Ring, lon: float, lat: float) -> bool:
    inside = False
    count = len(ring)
    for index in range(count):
        x1, y1 = ring[index]
        x2, y2 = ring[(index + 1) % count]
        if (y1 > lat) != (y2 > lat):
            crossing = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < crossing:
                inside = not inside
    return inside


def point_in_district(polygons: List[List[Ring]], lon: float, lat: float) -> bool:
    """True when the point lies in one of the polygons (outer ring in, no hole contains it)."""
    for rings in polygons:
        if rings and point_in_ring(rings[0], lon, lat):
            if not any(point_in_ring(hole, lon, lat) for hole in rings[1:]):
                return True
    return False
