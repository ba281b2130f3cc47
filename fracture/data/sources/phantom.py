"""Render X-ray-like radiographs of simple bone phantoms.

A radiograph shows how much of the beam each ray lost. A bone is drawn as the
length of the ray's path through a hollow cylinder (the cortex) filled with
marrow, so its edges are bright and its middle darker, as on a real film. A
fracture is a thin gap across the cortex, often displaced; a growth plate is a
similar band at the end of a normal bone, so a model cannot win by finding any
dark line.

Anatomy is in "height units": y runs 0..1 down the film, x from 0 across it,
and the pose maps it onto the pixel grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np

MU_CORTEX = 30.0
MU_MARROW = 9.0
MU_TISSUE = 2.2
ANATOMY_CENTER = (0.4, 0.5)


@dataclass(frozen=True)
class Bone:
    """A long bone: a tapered hollow cylinder from p0 (proximal) to p1 (distal)."""

    p0: tuple[float, float]
    p1: tuple[float, float]
    r0: float
    r1: float
    cortex: float = 0.3
    density: float = 1.0


@dataclass(frozen=True)
class Blob:
    """A compact bone (carpal, humeral head, condyle): a hollow ellipsoid."""

    center: tuple[float, float]
    a: float
    b: float
    angle: float = 0.0
    cortex: float = 0.25
    density: float = 1.0


@dataclass(frozen=True)
class Break:
    """A dark band across bone `bone` at fraction `t` of its length.

    A fracture has an oblique, `jagged` line at `angle` to the axis, may stop
    part way across (`extent` < 1, starting from cortex `side`), may displace
    the distal fragment by `shift` radii and tilt it by `angulation` radians,
    and may be impacted (a denser band where fragments overlap). A growth plate
    is a smooth, transverse, complete and undisplaced band.
    """

    bone: int
    t: float
    angle: float = math.pi / 2
    width: float = 0.004
    depth: float = 0.8
    extent: float = 1.0
    side: int = 1
    shift: float = 0.0
    angulation: float = 0.0
    jagged: float = 0.0
    impaction: float = 0.0


@dataclass
class Scene:
    """Everything on one film before exposure."""

    bones: list[Bone]
    blobs: list[Blob] = field(default_factory=list)
    tissue: list[Bone] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)


@dataclass(frozen=True)
class Pose:
    """How the anatomy lies on the film: rotation (radians), zoom, offset, mirror."""

    rotation: float = 0.0
    zoom: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)
    mirror: bool = False


@dataclass(frozen=True)
class Exposure:
    """How the film was taken and processed."""

    dose: float = 0.45
    gamma: float = 1.0
    gain: float = 0.9
    background: float = 0.05
    blur: float = 0.8
    noise: float = 0.02
    heel: float = 0.05
    collimation: tuple[float, float, float, float] | None = None
    marker: str = ""
    marker_corner: int = 0


def anatomy_grid(height: int, width: int, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Anatomy coordinates of every pixel centre under `pose`."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (xs + 0.5 - width / 2) / height
    y = (ys + 0.5 - height / 2) / height
    if pose.mirror:
        x = -x
    cos, sin = math.cos(-pose.rotation), math.sin(-pose.rotation)
    x, y = cos * x - sin * y, sin * x + cos * y
    x = x / pose.zoom - pose.offset[0] + ANATOMY_CENTER[0]
    y = y / pose.zoom - pose.offset[1] + ANATOMY_CENTER[1]
    return x, y


def _chord(radius: np.ndarray | float, distance: np.ndarray) -> np.ndarray:
    """Path length of a ray through a cylinder of `radius` at `distance` from its axis."""
    return 2.0 * np.sqrt(np.maximum(np.square(radius) - np.square(distance), 0.0))


def _segment_frame(bone: Bone, x: np.ndarray, y: np.ndarray):
    """Distance of each point from the bone axis and its position t along it."""
    dx, dy = bone.p1[0] - bone.p0[0], bone.p1[1] - bone.p0[1]
    t = np.clip(((x - bone.p0[0]) * dx + (y - bone.p0[1]) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    distance = np.hypot(x - (bone.p0[0] + t * dx), y - (bone.p0[1] + t * dy))
    return distance, t


def _shell(outer: np.ndarray, inner: np.ndarray, density: float, texture: np.ndarray) -> np.ndarray:
    marrow = inner * (1.0 + 0.35 * texture)
    return density * (MU_CORTEX * (outer - inner) + MU_MARROW * marrow)


def _bone_attenuation(bone: Bone, x, y, texture) -> np.ndarray:
    distance, t = _segment_frame(bone, x, y)
    radius = bone.r0 + (bone.r1 - bone.r0) * t
    return _shell(_chord(radius, distance), _chord(radius * (1 - bone.cortex), distance), bone.density, texture)


def _blob_attenuation(blob: Blob, x, y, texture) -> np.ndarray:
    cos, sin = math.cos(blob.angle), math.sin(blob.angle)
    u = (x - blob.center[0]) * cos + (y - blob.center[1]) * sin
    v = -(x - blob.center[0]) * sin + (y - blob.center[1]) * cos
    q = np.hypot(u / blob.a, v / blob.b)
    depth = (blob.a + blob.b) / 2
    outer = depth * _chord(1.0, q)
    inner = depth * (1 - blob.cortex) * _chord(1.0, q / (1 - blob.cortex))
    return _shell(outer, inner, blob.density, texture)


def _broken_bone_attenuation(bone: Bone, cuts: tuple[Break, ...], x, y, texture) -> np.ndarray:
    """A bone with bands removed along (jagged) lines, the fragment distal to each moved.

    Cuts compose: the first one splits the bone, and the rest are drawn on
    whichever fragment they fall on, so a growth plate distal to a displaced
    fracture moves with its fragment and neither erases the other.
    """
    if not cuts:
        return _bone_attenuation(bone, x, y, texture)
    cut, rest = cuts[0], cuts[1:]
    axis = np.array(bone.p1) - np.array(bone.p0)
    axis /= np.linalg.norm(axis)
    across = np.array([-axis[1], axis[0]])
    centre = np.array(bone.p0) + cut.t * (np.array(bone.p1) - np.array(bone.p0))
    radius = bone.r0 + (bone.r1 - bone.r0) * cut.t
    line = math.cos(cut.angle) * axis + math.sin(cut.angle) * across
    normal = np.array([-line[1], line[0]])
    if normal @ axis < 0:
        normal = -normal
    along = (x - centre[0]) * line[0] + (y - centre[1]) * line[1]
    phase = 97.0 * cut.t
    wobble = np.sin(along / radius * 7.0 + phase) + 0.5 * np.sin(along / radius * 17.0 + 2 * phase)
    signed = (x - centre[0]) * normal[0] + (y - centre[1]) * normal[1] + cut.jagged * wobble
    attenuation = _broken_bone_attenuation(bone, rest, x, y, texture)
    if cut.shift or cut.angulation:
        # The distal fragment, seen from its own frame: undo its tilt about the centre, then its shift.
        cos, sin = math.cos(-cut.angulation), math.sin(-cut.angulation)
        shift = cut.shift * radius * across
        dx, dy = x - centre[0] - shift[0], y - centre[1] - shift[1]
        distal_x, distal_y = centre[0] + cos * dx - sin * dy, centre[1] + sin * dx + cos * dy
        attenuation = np.where(signed > 0, _broken_bone_attenuation(bone, rest, distal_x, distal_y, texture),
                               attenuation)
    half = radius / max(abs(math.sin(cut.angle)), 0.3)
    reach = -half + 2 * half * cut.extent
    inside = 1.0 / (1.0 + np.exp((cut.side * along - reach) / (0.15 * radius)))
    gap = np.exp(-0.5 * np.square(signed / cut.width))
    overlap = np.exp(-0.5 * np.square((signed + 2.5 * cut.width) / (1.5 * cut.width)))
    return attenuation * (1.0 - cut.depth * gap * inside) * (1.0 + cut.impaction * overlap * inside)


def breaks_by_bone(scene: Scene) -> dict[int, tuple[Break, ...]]:
    """Every break of the scene grouped by its bone, displaced ones first (they move what lies beyond)."""
    grouped: dict[int, list[Break]] = {}
    for cut in scene.breaks:
        grouped.setdefault(cut.bone, []).append(cut)
    return {bone: tuple(sorted(cuts, key=lambda cut: not (cut.shift or cut.angulation)))
            for bone, cuts in grouped.items()}


def _pixel_window(points, margin: float, pose: Pose, height: int, width: int):
    """The pixel rectangle that holds a primitive through `points` padded by `margin`, or None."""
    cos, sin = math.cos(pose.rotation), math.sin(pose.rotation)
    columns, rows = [], []
    for ax, ay in points:
        x = (ax - ANATOMY_CENTER[0] + pose.offset[0]) * pose.zoom
        y = (ay - ANATOMY_CENTER[1] + pose.offset[1]) * pose.zoom
        x, y = cos * x - sin * y, sin * x + cos * y
        columns.append((-x if pose.mirror else x) * height + width / 2)
        rows.append(y * height + height / 2)
    pad = margin * pose.zoom * height + 2
    top, bottom = max(int(min(rows) - pad), 0), min(int(max(rows) + pad) + 1, height)
    left, right = max(int(min(columns) - pad), 0), min(int(max(columns) + pad) + 1, width)
    if top >= bottom or left >= right:
        return None
    return slice(top, bottom), slice(left, right)


def break_box(scene: Scene, cut: Break, height: int, width: int, pose: Pose) -> list[float] | None:
    """Where an annotator would box the break, in pixels (COCO: x, y, width, height): the bone's cross-section at
    the break, widened by its displacement and jagged edge; None where it lies off the film."""
    bone = scene.bones[cut.bone]
    centre = (bone.p0[0] + cut.t * (bone.p1[0] - bone.p0[0]), bone.p0[1] + cut.t * (bone.p1[1] - bone.p0[1]))
    radius = bone.r0 + cut.t * (bone.r1 - bone.r0)
    window = _pixel_window((centre,), radius * (1 + cut.shift) + cut.jagged, pose, height, width)
    if window is None:
        return None
    rows, columns = window
    return [float(columns.start), float(rows.start), float(columns.stop - columns.start),
            float(rows.stop - rows.start)]


def attenuation_map(scene: Scene, height: int, width: int, pose: Pose, texture: np.ndarray) -> np.ndarray:
    """Total attenuation (line integral) of the scene at every pixel.

    Each primitive is evaluated only inside its own pixel window, which keeps a
    film with dozens of bones cheap.
    """
    x, y = anatomy_grid(height, width, pose)
    total = np.zeros((height, width), dtype=np.float32)

    def add(points, margin, attenuation) -> None:
        window = _pixel_window(points, margin, pose, height, width)
        if window is not None:
            total[window] += attenuation(x[window], y[window], texture[window])

    for tissue in scene.tissue:
        add((tissue.p0, tissue.p1), max(tissue.r0, tissue.r1), partial(_tissue_attenuation, tissue))
    cuts = breaks_by_bone(scene)
    for index, bone in enumerate(scene.bones):
        margin = max(bone.r0, bone.r1)
        length = math.dist(bone.p0, bone.p1)
        for cut in cuts.get(index, ()):
            margin = margin * (1 + cut.shift) + length * abs(math.sin(cut.angulation)) + cut.jagged
        add((bone.p0, bone.p1), margin, partial(_broken_bone_attenuation, bone, cuts.get(index, ())))
    for blob in scene.blobs:
        add((blob.center,), max(blob.a, blob.b), partial(_blob_attenuation, blob))
    return total


def _tissue_attenuation(tissue: Bone, x, y, texture) -> np.ndarray:
    distance, t = _segment_frame(tissue, x, y)
    return MU_TISSUE * tissue.density * _chord(tissue.r0 + (tissue.r1 - tissue.r0) * t, distance)


def trabecular_texture(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth zero-mean unit-variance noise standing in for trabecular bone."""
    noise = rng.standard_normal((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=1.2 + height / 256)
    return smooth / (smooth.std() + 1e-6)


def expose(attenuation: np.ndarray, exposure: Exposure, rng: np.random.Generator) -> np.ndarray:
    """Turn attenuation into an 8-bit film: dose, tone curve, blur, noise, marker."""
    height, width = attenuation.shape
    signal = 1.0 - np.exp(-exposure.dose * attenuation)
    ramp = np.linspace(1 - exposure.heel, 1 + exposure.heel, height, dtype=np.float32)[:, None]
    film = exposure.background + exposure.gain * np.power(signal, exposure.gamma) * ramp
    film = cv2.GaussianBlur(film.astype(np.float32), (0, 0), sigmaX=exposure.blur)
    quantum = exposure.noise * np.sqrt(np.clip(film, 0.0, 1.0))
    film = film + quantum * rng.standard_normal(film.shape).astype(np.float32)
    film += 0.004 * rng.standard_normal(film.shape).astype(np.float32)
    if exposure.collimation is not None:
        left, top, right, bottom = exposure.collimation
        outside = np.ones_like(film, dtype=bool)
        outside[int(top * height) : int(bottom * height), int(left * width) : int(right * width)] = False
        film[outside] *= 0.2
    image = np.clip(film * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if exposure.marker:
        _draw_marker(image, exposure.marker, exposure.marker_corner)
    return image


def _draw_marker(image: np.ndarray, text: str, corner: int) -> None:
    """A lead laterality marker: a white letter near one corner of the film."""
    height, width = image.shape
    scale = height / 320
    thickness = max(1, round(2 * scale))
    (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = int(0.06 * height)
    x = margin if corner in (0, 2) else width - margin - text_w
    y = margin + text_h if corner in (0, 1) else height - margin
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 235, thickness, cv2.LINE_AA)


def render(scene: Scene, height: int, width: int, pose: Pose, exposure: Exposure,
           rng: np.random.Generator) -> np.ndarray:
    """One 8-bit radiograph of `scene`."""
    texture = trabecular_texture(height, width, rng)
    return expose(attenuation_map(scene, height, width, pose, texture), exposure, rng)
