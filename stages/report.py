"""Stage report: reports/report.md, a self-contained reports/report.html, and the model card
(reports/model_card.md and reports/model_card.json, checked against its schema)."""

import logging

from fracture.core.errors import run_stage
from fracture.core.params import load_params
from fracture.core.paths import REPORTS
from fracture.core.storage import write_json, write_text
from fracture.reporting.card import card_markdown, model_card
from fracture.reporting.content import RunOutputs, build_report
from fracture.reporting.document import to_html, to_markdown
from fracture.reporting.outside_tables import read_external

log = logging.getLogger("stages.report")

FIGURES = REPORTS / "figures"
TITLE = "Fracture classification report"


def main() -> None:
    params, outputs = load_params(), RunOutputs(REPORTS)
    external = read_external(REPORTS / "external")
    blocks = build_report(params, outputs, FIGURES, external)
    card = model_card(params, outputs, external)
    write_text(REPORTS / "report.md", to_markdown(blocks))
    write_text(REPORTS / "report.html", to_html(blocks, REPORTS, TITLE))
    write_json(REPORTS / "model_card.json", card)
    write_text(REPORTS / "model_card.md", card_markdown(card))
    log.info(f"report: {REPORTS / 'report.md'}, {REPORTS / 'report.html'}, {REPORTS / 'model_card.md'} and "
             f"{REPORTS / 'model_card.json'}")


if __name__ == "__main__":
    run_stage(main)
