"""Mouse gestures on the annotate page's Leaflet map, in screen pixels (Playwright pages).

Shared by the browser tests that draw and edit outlines; nothing here asserts.
"""

from __future__ import annotations

import json

from shapely.geometry import shape


def geometry_of(annotation):
    """An ``Annotation`` row's geometry as a shapely shape (EPSG:4326)."""
    return shape(json.loads(annotation.geometry.geojson))


def draw_square(page, size: float = 120) -> None:
    """A square of ``size`` screen pixels around the map's centre (the polygon tool must be on)."""
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    corners = [(cx - size / 2, cy - size / 2), (cx + size / 2, cy - size / 2), (cx + size / 2, cy + size / 2)]
    corners.append((cx - size / 2, cy + size / 2))
    for x, y in corners:
        page.mouse.click(x, y)
    page.mouse.click(*corners[0])  # clicking the first vertex closes the polygon


def drag_vertex(page, index: int, dx: float, dy: float) -> None:
    """Drag the ``index``-th vertex handle (not a midpoint handle) by (dx, dy) screen pixels."""
    vertex = page.locator(".leaflet-marker-icon.marker-icon:not(.marker-icon-middle)").nth(index)
    b = vertex.bounding_box()
    x, y = b["x"] + b["width"] / 2, b["y"] + b["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=4)
    page.mouse.move(x + dx, y + dy, steps=4)
    page.mouse.up()


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at ``start``, move to ``end`` in steps and release (fractions of the map's box)."""
    area = page.locator("#map").bounding_box()
    (x0, y0), (x1, y1) = [(area["x"] + area["width"] * fx, area["y"] + area["height"] * fy) for fx, fy in (start, end)]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()
