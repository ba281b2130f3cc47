"""The report's section on subgroups and shortcuts: where the headline hides a failure or rests on a covariate."""

from __future__ import annotations

from fracture.reporting.document import Block, Heading, Paragraph, Table
from fracture.reporting.numbers import fmt, fmt_ci, with_ci

TOO_SMALL = "too few to say"


def _cells(scores: dict | None) -> list[str]:
    """Images, fractured, AUC, sensitivity and specificity; no interval for a subgroup too small to have one."""
    if scores is None:
        return ["", "", "one class left", "", ""]
    if scores.get("too_small"):
        return [str(scores["n"]), str(scores["positives"]), f"{fmt(scores['auc'])} ({TOO_SMALL})",
                fmt(scores["sensitivity"]), fmt(scores["specificity"])]
    return [str(scores["n"]), str(scores["positives"])] + [with_ci(scores, key) for key in
                                                           ("auc", "sensitivity", "specificity")]


def _shortcut_blocks(check: dict, shortcuts: dict, headline: dict, unit: str) -> list[Block]:
    if not check.get("covariates"):
        return []
    tested = {finding["covariate"]: finding for finding in shortcuts.get("found", [])}
    rows = []
    for name, power in check["covariates"].items():
        finding = tested.get(name)
        restriction = (finding["text"] or "leave it out of the data") if finding else "no"
        test = _cells(finding.get("test")) if finding and finding.get("text") else [""] * 5
        rows.append([name, fmt_ci(power["auc"], power["ci"]["low"], power["ci"]["high"]), restriction] + test)
    blocks = [Paragraph(
        f"Before training, each covariate's levels alone were scored on the training split (the AUC of their "
        f"fracture rates, intervals over {unit}). A covariate is named a possible shortcut when one of its levels of "
        f"at least {check['min_cases']} training images holds one label only (the test split is then also scored "
        f"without those images), or when its AUC is at least {check['min_auc']} beyond doubt (the interval's lower "
        f"end; the test split is then also scored within its most common level, where it cannot help)."),
        Table(["covariate", "training AUC alone", "possible shortcut: test scored", "images", "fractured",
               "test ROC-AUC", "sensitivity", "specificity"], rows)]
    without = shortcuts.get("without")
    if without:
        scores = without["image"]
        blocks.append(Paragraph(
            f"Headline test ROC-AUC {with_ci(headline, 'auc')} ({headline['n']} images, {headline['positives']} "
            f"fractured); {without['text']}: "
            + (f"{with_ci(scores, 'auc')} ({scores['n']} images, {scores['positives']} fractured)."
               if scores else "not measurable, one class is left.")))
    return blocks


def subgroup_section(evaluation: dict, check: dict, unit: str) -> list[Block]:
    """Test metrics per subgroup level and under each shortcut the split stage named."""
    subgroups, shortcuts = evaluation.get("test_by_subgroup"), evaluation.get("shortcuts") or {}
    if not subgroups and not check.get("covariates"):
        return []
    rows = [[name, level] + _cells(scores) for name, levels in (subgroups or {}).items()
            for level, scores in levels.items()]
    blocks = [Heading("Subgroups and shortcuts", 3)]
    blocks += _shortcut_blocks(check, shortcuts, evaluation["test"]["image"], unit)
    if rows:
        blocks += [Paragraph(f"Test images per level of the view and of each covariate (numbers cut into quartiles, "
                             f"rare text values pooled as `other`). A level with fewer than {check.get('min_cases')} "
                             f"fractured or normal images is marked {TOO_SMALL} and given no interval."),
                   Table(["subgroup", "level", "images", "fractured", "ROC-AUC", "sensitivity", "specificity"], rows)]
    return blocks
