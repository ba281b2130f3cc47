"""How often the project's intervals cover the truth, and how often its paired test rejects a true null, on
clustered data the size of a FracAtlas test split (92 patient groups of one to five films, 15% fractured).

Each draw makes films whose scores share a patient effect, so that the true AUC is known
(Phi(shift / sqrt(2 (group_sd^2 + 1))) = 0.80 between patients), and scores them with
`intervals.patient_bootstrap` (the logit interval) beside the percentile and BCa intervals over the same
patient groups. For the paired test, two models with the same true AUC and a shared patient effect are
compared with `paired.paired_auc_differences` (t on the fractured groups less one), beside a normal
reference and the percentile interval of the same draws.

    python studies/interval_coverage.py [--draws 400] [--resamples 1000] [--seed 30]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap, norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fracture.comparison.paired import paired_auc_differences  # noqa: E402
from fracture.evaluation.intervals import group_resamples, patient_bootstrap, rows_of_groups, wilson  # noqa: E402
from fracture.evaluation.metrics import roc_auc  # noqa: E402

GROUP_SD, SHIFT = 0.7, 1.453


def true_auc() -> float:
    return float(norm.cdf(SHIFT / np.sqrt(2 * (GROUP_SD ** 2 + 1))))


def clustered_sample(rng, groups: int = 92, prevalence: float = 0.15):
    """Labels, a score and a second score equally good, and patient codes, for `groups` patients (1-5 films)."""
    sizes = rng.integers(1, 6, groups)
    codes = np.repeat(np.arange(groups), sizes)
    labels = (rng.random(len(codes)) < prevalence).astype(int)
    shared = SHIFT * labels + rng.normal(0, GROUP_SD, groups)[codes]
    return labels, shared + rng.normal(0, 1, len(codes)), shared + rng.normal(0, 1, len(codes)), codes


def _share(hits: int, draws: int) -> str:
    low, high = wilson(hits, draws)
    return f"{hits / draws:.3f} [{low:.3f}, {high:.3f}]"


def _auc_of(labels, scores, rows_of, chosen) -> float:
    rows = np.concatenate([rows_of[int(index)] for index in chosen])
    return roc_auc(labels[rows], scores[rows])


def _percentile(draws: list) -> tuple[float, float]:
    values = np.array([np.nan if draw is None else draw for draw in draws], dtype=float)
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=30, help="of the simulated data sets")
    arguments = parser.parse_args()
    rng, truth = np.random.default_rng(arguments.seed), true_auc()
    counts = dict.fromkeys(("percentile", "bca", "logit", "null_percentile", "null_normal", "null_t"), 0)
    for index in range(arguments.draws):
        labels, first, second, codes = clustered_sample(rng)
        rows_of = rows_of_groups(codes)
        auc = patient_bootstrap(codes, lambda rows: {"auc": roc_auc(labels[rows], first[rows])},
                                arguments.resamples, index)["auc"]
        counts["logit"] += auc["low"] <= truth <= auc["high"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bca = bootstrap((np.arange(len(rows_of)),), lambda chosen: _auc_of(labels, first, rows_of, chosen),
                            n_resamples=arguments.resamples, vectorized=False, method="BCa",
                            rng=np.random.default_rng(index)).confidence_interval
        counts["bca"] += bca.low <= truth <= bca.high
        resampled = group_resamples(codes, arguments.resamples, index)
        low, high = _percentile([roc_auc(labels[rows], first[rows]) for rows in resampled])
        counts["percentile"] += low <= truth <= high
        difference = paired_auc_differences(labels, {"a": first, "b": second}, "a", codes, arguments.resamples,
                                            index)["b"]
        counts["null_t"] += difference.p_value < 0.05
        counts["null_normal"] += abs(difference.difference) / difference.se > norm.ppf(0.975)
        low, high = _percentile([roc_auc(labels[rows], second[rows]) - roc_auc(labels[rows], first[rows])
                                 for rows in resampled if len(set(labels[rows])) == 2])
        counts["null_percentile"] += not low <= 0 <= high
        if (index + 1) % 50 == 0:
            print(f"{index + 1} draws done", file=sys.stderr)
    draws = arguments.draws
    print(f"{draws} data sets of 92 groups, true AUC {truth:.3f}, {arguments.resamples} resamples each; "
          f"share [Wilson 95% interval]")
    print(f"AUC interval covers the truth (nominal 0.95): percentile {_share(counts['percentile'], draws)}, "
          f"BCa {_share(counts['bca'], draws)}, logit (the project's) {_share(counts['logit'], draws)}")
    print(f"paired delta AUC rejects a true null (nominal 0.05): percentile interval "
          f"{_share(counts['null_percentile'], draws)}, normal on the bootstrap standard error "
          f"{_share(counts['null_normal'], draws)}, t on the fractured groups less one (the project's) "
          f"{_share(counts['null_t'], draws)}")


if __name__ == "__main__":
    main()
