"""Vector files written for the import tests with pyogrio, in projected CRSs.

The features are squares defined in EPSG:4326 around the test image (see tests.support.workflow),
transformed to the file's CRS, so a round trip can be checked against the originals.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

from tests.support.workflow import CENTRE, FOOTPRINT

# (class attribute value, EPSG:4326 geometry): two inside, one overhanging the west edge,
# one wholly outside the image.
INSIDE_A = shapely.box(CENTRE[0] - 0.004, CENTRE[1] - 0.001, CENTRE[0] - 0.002, CENTRE[1] + 0.001)
INSIDE_B = shapely.box(CENTRE[0] + 0.002, CENTRE[1] - 0.001, CENTRE[0] + 0.004, CENTRE[1] + 0.001)
OVERHANG = shapely.box(FOOTPRINT[0] - 0.001, CENTRE[1], FOOTPRINT[0] + 0.001, CENTRE[1] + 0.001)
OUTSIDE = shapely.box(FOOTPRINT[2] + 0.01, CENTRE[1], FOOTPRINT[2] + 0.012, CENTRE[1] + 0.001)
FEATURES = [("house", INSIDE_A), ("Barn", INSIDE_B), ("pond", OVERHANG), ("house", OUTSIDE)]


def to_crs(geometries: list, epsg: int) -> np.ndarray:
    transformer = Transformer.from_crs(4326, epsg, always_xy=True)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geometries, dtype=object), project)


def write_vector(
    path: Path,
    driver: str,
    epsg: int | None,
    features: list[tuple[str, object]] = FEATURES,
    geometry_type: str = "Polygon",
) -> Path:
    """Write ``features`` (EPSG:4326 shapely geometries with a ``kind`` attribute) in ``epsg``."""
    geometries = [g for _, g in features]
    projected = to_crs(geometries, epsg) if epsg else np.asarray(geometries, dtype=object)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)  # on purpose, for refusal tests
        pyogrio.raw.write(
            str(path),
            shapely.to_wkb(projected),
            [np.array([k for k, _ in features], dtype=object)],
            ["kind"],
            driver=driver,
            crs=f"EPSG:{epsg}" if epsg else None,
            geometry_type=geometry_type,
        )
    return path


def zip_shapefile(folder: Path, name: str, epsg: int | None, **kwargs) -> Path:
    """A zipped Shapefile (``name``.shp and its sidecars; no .prj without a CRS)."""
    shp = write_vector(folder / f"{name}.shp", "ESRI Shapefile", epsg, **kwargs)
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(shp.parent.glob(f"{name}.*")):
            if part.suffix != ".zip":
                zf.write(part, f"{name}/{part.name}")
    return archive
