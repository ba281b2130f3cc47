"""Stage report: reports/report.md and a self-contained reports/report.html."""

import logging
from pathlib import Path

from fracture.errors import run_stage
from fracture.params import load_params
from fracture.reporting.content import RunOutputs, build_report
from fracture.reporting.document import to_html, to_markdown
from fracture.storage import write_text

log = logging.getLogger("stages.report")

REPORTS = Path("reports")
FIGURES = REPORTS / "figures"
TITLE = "Fracture classification report"


def main() -> None:
    blocks = build_report(load_params(), RunOutputs(REPORTS), FIGURES)
    write_text(REPORTS / "report.md", to_markdown(blocks))
    write_text(REPORTS / "report.html", to_html(blocks, REPORTS, TITLE))
    log.info(f"report: {REPORTS / 'report.md'} and {REPORTS / 'report.html'}")


if __name__ == "__main__":
    run_stage(main)
