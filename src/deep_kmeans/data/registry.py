"""What the project knows about each data set: its kind, class count and "image" geometry.

The models never see a data set's name: they receive flat feature vectors and a
:class:`Geometry` that says how to lay a vector out as a C×S×S image cut into p×p patches
(``../shared/spec/take.md``, table "Shapes").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from deep_kmeans.errors import ParameterError


@dataclass(frozen=True)
class Geometry:
    """How a feature vector of length ``dim`` becomes a ``channels × side × side`` image.

    The vector is zero-padded at its end to ``channels * side * side`` values, reshaped, and cut
    into non-overlapping ``patch × patch`` patches.
    """

    dim: int
    channels: int
    side: int
    patch: int

    def __post_init__(self):
        if self.dim < 1 or self.channels < 1 or self.side < 1 or self.patch < 1:
            raise ValueError(f"Geometry values must be positive, got {self}")
        if self.side % self.patch:
            raise ValueError(
                f"patch size {self.patch} does not divide the image side {self.side}: "
                f"choose a patch size among {divisors(self.side)}"
            )
        if self.padded_dim < self.dim:
            raise ValueError(
                f"a {self.channels}×{self.side}×{self.side} image holds {self.padded_dim} values, "
                f"fewer than the feature dimension {self.dim}: use a larger side"
            )

    @property
    def padded_dim(self) -> int:
        return self.channels * self.side * self.side

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.side // self.patch

    @property
    def n_patches(self) -> int:
        return self.grid * self.grid

    @property
    def patch_dim(self) -> int:
        return self.channels * self.patch * self.patch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Geometry":
        return cls(**{k: int(d[k]) for k in ("dim", "channels", "side", "patch")})


def divisors(n: int) -> list[int]:
    return [k for k in range(1, n + 1) if n % k == 0]


def vector_geometry(dim: int, grid: int) -> Geometry:
    """Geometry for a plain feature vector cut into ``grid × grid`` patches.

    The side is the smallest multiple of ``grid`` whose square holds ``dim`` values: ResNet50's 2048
    with grid 6 gives 48×48 (patch 8), tf-idf 2000 with grid 3 gives 45×45 (patch 15), BERT's 768 with
    grid 4 gives 28×28 (patch 7), as in the spec's table.
    """
    if dim < 1 or grid < 1:
        raise ValueError(f"dim and grid must be positive, got dim={dim}, grid={grid}")
    side = math.isqrt(dim)
    if side * side < dim:
        side += 1
    side = -(-side // grid) * grid
    return Geometry(dim=dim, channels=1, side=side, patch=side // grid)


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a data set.

    ``kind``: ``gray`` (pixel images, used as pixels), ``rgb`` (colour images, used through an
    ImageNet backbone), ``text`` (short texts, used through a sentence encoder), ``tfidf``
    (documents, used as tf-idf vectors) or ``vector`` (a table of numeric features, standardised).
    ``custom`` is the user's own data: its kind (``vector`` or ``rgb``) and classes come from the file
    (``data.custom``), ``n_classes`` 0 means "unknown: give n_clusters".
    """

    name: str
    kind: str
    n_classes: int
    grid: int  # patches per side of the model's image
    image_side: int | None = None  # gray sets: the native side, used as is
    augmentable: bool = True
    description: str = ""
    embedded: bool = False  # shipped with a library (no raw folder, nothing to download)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo("digits", "gray", 10, grid=4, image_side=8, embedded=True,
                    description="scikit-learn's load_digits, 1,797 8×8 images (embedded, no download)"),
        DatasetInfo("mnist", "gray", 10, grid=4, image_side=28, description="MNIST, 70,000 28×28 digits"),
        DatasetInfo("fashion_mnist", "gray", 10, grid=4, image_side=28,
                    description="Fashion-MNIST, 70,000 28×28 clothing images"),
        DatasetInfo("2mnist", "gray", 20, grid=4, image_side=28,
                    description="MNIST + Fashion-MNIST, 140,000 images, 20 classes"),
        DatasetInfo("stl10", "rgb", 10, grid=6, description="STL-10 train+test, 13,000 96×96 colour images"),
        DatasetInfo("cifar10", "rgb", 10, grid=6, description="CIFAR-10, 60,000 32×32 colour images"),
        DatasetInfo("reuters10k", "tfidf", 4, grid=3, augmentable=False,
                    description="REUTERS-10k: 10,000 RCV1 documents, 4 root categories (DEC's preprocessing)"),
        DatasetInfo("reuters21578", "tfidf", 4, grid=3, augmentable=False,
                    description="Reuters-21578, single-topic earn/acq/crude/trade documents"),
        DatasetInfo("agnews", "text", 4, grid=4, description="AG News, 8,000 titles, 4 classes"),
        DatasetInfo("custom", "vector", 0, grid=0, augmentable=False,
                    description="your own table, array or image folder (custom.path)"),
    ]
}


def get_dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``, or a ``ValueError`` listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ParameterError(
            f"unknown dataset {name!r}; known data sets: {', '.join(sorted(DATASETS))}. "
            "Select one with `kedro run --params=dataset=<name>`."
        ) from None


def known_dataset(name) -> str:
    """``name`` when it is a known data set, else the unknown-name error: the catalog's paths are built from it
    (``${known_dataset:${runtime_params:dataset,digits}}``), so a name like ``../../elsewhere`` never reaches a
    path and every pipeline, the stages included, refuses it before anything is read or written."""
    return get_dataset_info(str(name)).name


def default_grid(dim: int) -> int:
    """Patches per side for a feature vector of width ``dim`` when nothing says otherwise: a 4×4 grid for
    64 values and more, 2×2 below (20 columns → a 6×6 image of four 3×3 patches), 1 below 4."""
    return 4 if dim >= 64 else 2 if dim >= 4 else 1


def geometry_for(name: str, dim: int, patch: int | None = None, grid: int | None = None) -> Geometry:
    """The image geometry the model uses for data set ``name`` with feature dimension ``dim``.

    Gray image sets keep their native side (digits 8×8 → 16 patches of 2×2, MNIST 28×28 → 16 of 7×7);
    feature vectors are zero-padded to a square (:func:`vector_geometry`) cut into ``grid`` × ``grid``
    patches (the data set's grid; :func:`default_grid` of the width for custom data). ``patch`` overrides
    the patch size; it must divide the side.
    """
    info = get_dataset_info(name)
    if grid is not None and (not isinstance(grid, int) or isinstance(grid, bool) or grid < 1):
        raise ParameterError(f"the patch grid must be a positive integer, got {grid!r} (features.grid)")
    if info.kind == "gray":
        side = info.image_side
        if dim != side * side:
            raise ValueError(f"{name} images must have {side * side} pixels, got vectors of length {dim}")
        geom = _patched(dict(dim=dim, channels=1, side=side), patch or side // info.grid, patch)
    else:
        geom = vector_geometry(dim, grid or info.grid or default_grid(dim))
        if patch:
            geom = _patched(dict(dim=dim, channels=1, side=geom.side), patch, patch)
    return geom


def image_geometry(side: int, patch: int | None = None, grid: int | None = None) -> Geometry | None:
    """The geometry of gray ``side × side`` images of your own, laid out as the built-in gray sets are (the native
    side, no padding): ``grid`` patches per side (default: the divisor of ``side`` nearest 4, so 28 → 4 of 7,
    8 → 4 of 2, 30 → 5 of 6), or patches of ``patch``. None where ``side`` has no divisor between 2 and
    ``side / 2`` (a prime side): the vector geometry then."""
    if grid is None and patch is None:
        candidates = [g for g in divisors(side) if 2 <= g <= side // 2]
        if not candidates:
            return None
        grid = min(candidates, key=lambda g: (abs(g - 4), -g))
    elif patch is None and side % grid:
        raise ParameterError(f"features.grid = {grid} does not divide the image side {side}: choose a grid among "
                             f"{divisors(side)}")
    return _patched(dict(dim=side * side, channels=1, side=side), patch or side // grid, patch)


def _patched(shape: dict, patch: int, given: int | None) -> Geometry:
    """The geometry with ``patch``; a patch size that does not fit, given as ``features.patch``, is the user's."""
    try:
        return Geometry(**shape, patch=patch)
    except ValueError as err:
        if given:
            raise ParameterError(f"features.patch = {given!r} is invalid: {err}") from None
        raise
