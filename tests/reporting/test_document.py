import base64

from fracture.reporting.document import Figure, Heading, Paragraph, Table, to_html, to_markdown
from tests.conftest import radiograph_like, write_png

BLOCKS = [Heading("Results <1>", 1), Paragraph("AUC & co."), Table(["metric", "value"], [["AUC", "0.900"]]),
          Figure("figures/roc.png", "ROC")]


def test_markdown_rendering():
    text = to_markdown(BLOCKS)
    assert text.startswith("# Results &lt;1&gt;\n\nAUC &amp; co.\n\n| metric | value |\n|---|---|\n| AUC | 0.900 |")
    assert "![ROC](figures/roc.png)" in text


def test_values_from_a_users_data_reach_markdown_as_text_not_markup():
    hostile = "<img src=x onerror=alert(1)>|[click](javascript:alert(1))\n# Hacked"
    text = to_markdown([Heading(hostile), Paragraph(f"film {hostile}"), Table(["name"], [[hostile]]),
                        Figure("figures/roc.png", hostile)])
    assert "<img" not in text and "<" not in text.replace("&lt;", ""), "no raw HTML"
    assert "](javascript" not in text, "no link"
    assert "\n# Hacked" not in text, "no heading of its own"
    row = next(line for line in text.splitlines() if line.startswith("| &lt;img"))
    assert row.replace("\\|", "").count("|") == 2, "one cell, however many pipes the value holds"


def test_html_is_self_contained_and_escaped(tmp_path):
    png = write_png(tmp_path / "figures/roc.png", radiograph_like(0, size=8))
    page = to_html(BLOCKS, tmp_path, "title")
    assert "<h1>Results &lt;1&gt;</h1>" in page and "AUC &amp; co." in page
    assert f'src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}"' in page
    assert "figures/roc.png" not in page, "no link to a file beside the report"


def test_the_localisation_table_says_n_a_where_no_map_had_positive_mass():
    from fracture.reporting.content import _localisation_section

    rate = {"value": 0.0, "low": 0.0, "high": 0.2, "method": "wilson"}
    scores = {"images": 5, "groups": 4, "hit": rate, "chance_hit": rate, "outline_share": {"value": 0.01},
              "peak_in_padding": rate, "peak_at_film_edge": rate}  # an untrained model: mass_inside undefined
    table = _localisation_section({"tolerance_px": 2, "annotated": scores, "true_positives": {"images": 0}},
                                  "patients")[-1]
    assert table.rows[0][3] == "n/a" and table.rows[0][1].endswith("(W)")
