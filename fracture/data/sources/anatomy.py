"""Bone layouts of the seven MURA regions, for the synthetic radiographs.

Each layout places the region's bones in height units (see `phantom`) and says
where fractures happen on it (the distal radius on a wrist film, a metacarpal
neck on a hand film, ...) and where growth plates lie. A view changes the
layout: on a lateral film the paired bones overlap, so `spread` squeezes them
towards the limb's axis (1 frontal, about 0.6 oblique, 0.15 lateral).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fracture.data.sources.phantom import Blob, Bone, Scene

REGIONS = ("wrist", "hand", "finger", "forearm", "elbow", "humerus", "shoulder")
VIEW_SPREAD = {"frontal": 1.0, "oblique": 0.6, "lateral": 0.15}


@dataclass(frozen=True)
class FractureSite:
    """Where on which bone fractures of this region occur, and how often."""

    bone: int
    t_range: tuple[float, float]
    weight: float = 1.0


@dataclass
class Layout:
    scene: Scene
    fracture_sites: list[FractureSite]
    growth_plates: list[tuple[int, float]]
    aspect: float = 0.8


class _Builder:
    """Collects bones with a patient's proportions and a view's spread applied."""

    def __init__(self, rng: np.random.Generator, spread: float, axis: float = 0.4,
                 zoom: float = 1.0, focus: tuple[float, float] = (0.4, 0.5)):
        self.rng, self.spread, self.axis = rng, spread, axis
        self.zoom, self.focus = zoom, focus
        self.girth = rng.uniform(0.9, 1.1) * zoom
        self.scene = Scene(bones=[])

    def _point(self, x: float, y: float) -> tuple[float, float]:
        """Squeeze towards the limb axis for the view, then zoom the film's field about `focus`."""
        jitter = self.rng.normal(0.0, 0.004, size=2)
        x = self.axis + self.spread * (x - self.axis)
        return (self.focus[0] + self.zoom * (x - self.focus[0]) + jitter[0],
                self.focus[1] + self.zoom * (y - self.focus[1]) + jitter[1])

    def bone(self, p0, p1, r0, r1, cortex=0.3, density=1.0) -> int:
        self.scene.bones.append(
            Bone(self._point(*p0), self._point(*p1), r0 * self.girth, r1 * self.girth, cortex, density)
        )
        return len(self.scene.bones) - 1

    def blob(self, center, a, b, angle=0.0, density=1.0, cortex=0.25) -> None:
        squeeze = 0.5 + 0.5 * self.spread
        self.scene.blobs.append(Blob(self._point(*center), a * self.girth * squeeze, b * self.girth, angle, cortex,
                                     density))

    def tissue(self, p0, p1, r0, r1) -> None:
        width = (0.7 + 0.3 * self.spread) * self.zoom
        self.scene.tissue.append(Bone(self._point(*p0), self._point(*p1), r0 * width, r1 * width, cortex=0.0))


def _ray(b: _Builder, base: tuple[float, float], angle: float, lengths, radii) -> list[int]:
    """A metacarpal or finger: bones end to end along `angle`, with joint gaps."""
    indices, (x, y) = [], base
    direction = (math.sin(angle), -math.cos(angle))
    for length, radius in zip(lengths, radii):
        end = (x + direction[0] * length, y + direction[1] * length)
        indices.append(b.bone((x, y), end, radius, radius * 0.8, cortex=0.35))
        gap = 0.018 + radius * 0.3
        x, y = end[0] + direction[0] * gap, end[1] + direction[1] * gap
    return indices


def wrist(rng: np.random.Generator, spread: float) -> Layout:
    # A PA wrist film is collimated from the distal forearm to the metacarpal bases.
    b = _Builder(rng, spread, zoom=1.4, focus=(0.41, 0.6))
    b.tissue((0.40, 1.15), (0.40, -0.1), 0.23, 0.28)
    radius = b.bone((0.29, 1.15), (0.32, 0.60), 0.05, 0.085)
    ulna = b.bone((0.54, 1.15), (0.52, 0.63), 0.04, 0.042)
    for x, y, a, bb in [(0.27, 0.52, 0.045, 0.032), (0.37, 0.535, 0.04, 0.032), (0.46, 0.545, 0.035, 0.03),
                        (0.27, 0.445, 0.035, 0.03), (0.35, 0.435, 0.035, 0.035), (0.43, 0.435, 0.035, 0.035),
                        (0.51, 0.45, 0.03, 0.035)]:
        b.blob((x, y), a, bb, angle=rng.uniform(-0.3, 0.3))
    for base_x, angle in [(0.27, -0.16), (0.34, -0.05), (0.41, 0.03), (0.48, 0.12)]:
        _ray(b, (base_x, 0.39), angle, [0.36], [0.028])
    _ray(b, (0.21, 0.46), -0.6, [0.2], [0.03])
    return Layout(b.scene, [FractureSite(radius, (0.72, 0.93), 3.0), FractureSite(ulna, (0.85, 0.96), 1.0)],
                  [(radius, 0.95), (ulna, 0.96)])


def hand(rng: np.random.Generator, spread: float) -> Layout:
    b = _Builder(rng, spread)
    b.tissue((0.40, 1.1), (0.40, 0.25), 0.27, 0.25)
    sites, plates = [], []
    for base_x, angle, scale in [(0.28, -0.2, 0.9), (0.35, -0.07, 1.0), (0.42, 0.03, 1.0), (0.49, 0.15, 0.9)]:
        b.tissue((base_x, 0.8), (base_x + 0.6 * math.sin(angle), 0.8 - 0.6 * math.cos(angle)), 0.05, 0.04)
        meta, prox, *_ = _ray(b, (base_x, 0.82), angle, [0.27 * scale, 0.17 * scale, 0.1 * scale, 0.07 * scale],
                              [0.024, 0.021, 0.018, 0.015])
        sites += [FractureSite(meta, (0.45, 0.9)), FractureSite(prox, (0.2, 0.8), 0.5)]
        plates.append((prox, 0.04))
    thumb = _ray(b, (0.22, 0.86), -0.75, [0.17, 0.13, 0.09], [0.026, 0.022, 0.018])
    sites.append(FractureSite(thumb[0], (0.1, 0.4), 0.5))
    for x in (0.27, 0.34, 0.41, 0.48):
        b.blob((x, 0.9), 0.03, 0.028, angle=rng.uniform(-0.4, 0.4))
    b.bone((0.32, 1.2), (0.33, 0.99), 0.06, 0.075)
    return Layout(b.scene, sites, plates)


def finger(rng: np.random.Generator, spread: float) -> Layout:
    b = _Builder(rng, spread)
    bend = rng.normal(0.0, 0.05)
    b.tissue((0.40, 1.2), (0.40, 0.05), 0.15, 0.12)
    bones = _ray(b, (0.40, 1.25), bend, [0.27, 0.34, 0.22, 0.16], [0.085, 0.07, 0.058, 0.048])
    sites = [FractureSite(i, (0.2, 0.8)) for i in bones[1:]]
    return Layout(b.scene, sites, [(i, 0.05) for i in bones[1:]])


def forearm(rng: np.random.Generator, spread: float) -> Layout:
    b = _Builder(rng, spread)
    b.tissue((0.40, 1.1), (0.40, -0.1), 0.2, 0.24)
    radius = b.bone((0.31, 1.06), (0.29, -0.04), 0.032, 0.05)
    ulna = b.bone((0.50, 1.08), (0.53, -0.02), 0.04, 0.028)
    return Layout(b.scene, [FractureSite(radius, (0.2, 0.8)), FractureSite(ulna, (0.2, 0.8))],
                  [(radius, 0.97), (ulna, 0.03)])


def elbow(rng: np.random.Generator, spread: float) -> Layout:
    b = _Builder(rng, spread)
    flexion = (1 - spread) * rng.uniform(1.1, 1.6)
    joint = (0.40, 0.50)

    def flexed(x, y):
        dx, dy = x - joint[0], y - joint[1]
        c, s = math.cos(flexion), math.sin(flexion)
        return (joint[0] + c * dx - s * dy, joint[1] + s * dx + c * dy)

    b.tissue((0.40, -0.1), joint, 0.24, 0.22)
    b.tissue(joint, flexed(0.40, 1.1), 0.22, 0.2)
    humerus = b.bone((0.40, -0.1), (0.40, 0.44), 0.055, 0.075)
    b.blob((0.40, 0.46), 0.14, 0.05)
    radius = b.bone(flexed(0.32, 0.56), flexed(0.30, 1.12), 0.04, 0.035)
    ulna = b.bone(flexed(0.47, 0.53), flexed(0.50, 1.12), 0.048, 0.032)
    return Layout(b.scene, [FractureSite(humerus, (0.72, 0.9)), FractureSite(radius, (0.05, 0.2)),
                            FractureSite(ulna, (0.05, 0.25))], [(radius, 0.03)], aspect=0.85)


def humerus(rng: np.random.Generator, spread: float) -> Layout:
    b = _Builder(rng, spread)
    b.tissue((0.40, 0.0), (0.40, 1.1), 0.3, 0.25)
    shaft = b.bone((0.41, 0.12), (0.40, 1.08), 0.06, 0.05)
    b.blob((0.43, 0.07), 0.11, 0.1)
    return Layout(b.scene, [FractureSite(shaft, (0.12, 0.8))], [(shaft, 0.04)], aspect=0.7)


def shoulder(rng: np.random.Generator, spread: float) -> Layout:
    b = _Builder(rng, spread, axis=0.5)
    b.tissue((0.1, 0.5), (0.9, 0.5), 0.45, 0.4)
    shaft = b.bone((0.62, 0.52), (0.66, 1.15), 0.065, 0.058)
    clavicle = b.bone((0.0, 0.14), (0.72, 0.2), 0.035, 0.03, density=0.9)
    for k in range(4):
        b.bone((-0.05, 0.35 + 0.17 * k), (0.35, 0.28 + 0.2 * k), 0.014, 0.014, cortex=0.5, density=0.45)
    b.blob((0.61, 0.42), 0.13, 0.13)
    b.blob((0.43, 0.43), 0.035, 0.1, density=0.8)
    b.blob((0.3, 0.58), 0.16, 0.3, angle=0.2, density=0.3)
    b.blob((0.62, 0.24), 0.1, 0.03, angle=0.1, density=0.8)
    return Layout(b.scene, [FractureSite(shaft, (0.02, 0.3), 2.0), FractureSite(clavicle, (0.35, 0.75))],
                  [(shaft, 0.02)], aspect=1.0)


LAYOUTS = {"wrist": wrist, "hand": hand, "finger": finger, "forearm": forearm,
           "elbow": elbow, "humerus": humerus, "shoulder": shoulder}


def layout(region: str, view: str, rng: np.random.Generator) -> Layout:
    """The bones of `region` seen in `view`, with this patient's proportions."""
    return LAYOUTS[region](rng, VIEW_SPREAD[view])
