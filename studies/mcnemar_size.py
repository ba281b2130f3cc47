"""The size of the clustered McNemar test under a clustered null, against Obuchowski's (1998) centred variance.

Two equally good models whose advantage over each other varies from patient to patient (one to six films a
patient): how often each test rejects at 5%, at 15, 25 and 92 groups.

    python studies/mcnemar_size.py [--draws 4000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import chi2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fracture.comparison.paired import clustered_mcnemar  # noqa: E402
from fracture.evaluation.intervals import wilson  # noqa: E402


def clustered_null(rng, groups: int):
    """Which films each of two equally good models gets right, and the films' patients."""
    sizes = rng.integers(1, 7, groups)
    codes = np.repeat(np.arange(groups), sizes)
    base = rng.beta(2, 2, groups)[codes]
    tilt = rng.choice([-0.25, 0.25], groups)[codes]
    return (rng.random(len(codes)) < np.clip(base - tilt, 0, 1),
            rng.random(len(codes)) < np.clip(base + tilt, 0, 1), codes)


def obuchowski(reference: np.ndarray, other: np.ndarray, codes: np.ndarray) -> float:
    """The p-value of Obuchowski's clustered McNemar test: K / (K - 1) times the centred per-group spread."""
    reference, other = reference.astype(float), other.astype(float)
    groups, count = codes.max() + 1, len(reference)
    sizes = np.bincount(codes)
    x, y = np.bincount(codes, weights=reference), np.bincount(codes, weights=other)
    p1, p2 = x.sum() / count, y.sum() / count
    variance = groups / (groups - 1) * np.sum(((y - sizes * p2) - (x - sizes * p1)) ** 2) / count ** 2
    return float(chi2.sf((p2 - p1) ** 2 / variance, 1)) if variance > 1e-15 else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=4000)
    draws = parser.parse_args().draws
    for groups in (15, 25, 92):
        rng = np.random.default_rng(100 + groups)
        durkalski = centred = 0
        for _ in range(draws):
            reference, other, codes = clustered_null(rng, groups)
            durkalski += clustered_mcnemar(reference, other, codes).p_value < 0.05
            centred += obuchowski(reference, other, codes) < 0.05
        shares = [f"{hits / draws:.3f} [{wilson(hits, draws)[0]:.3f}, {wilson(hits, draws)[1]:.3f}]"
                  for hits in (durkalski, centred)]
        print(f"{groups} groups, {draws} data sets: Durkalski {shares[0]}, Obuchowski {shares[1]} (nominal 0.05)")


if __name__ == "__main__":
    main()
