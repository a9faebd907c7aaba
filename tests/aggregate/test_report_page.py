"""The report page as the jinja2 template lays it out: well-formed in every state a campaign can
be in, every value escaped as text, and the template shipped with an installed camp."""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from camp_contract.models import RunWarning
from orchestrator import aggregate
from orchestrator.report import data, figures, page, write_report
from tests.aggregate.helpers import add_warnings, make_spec, write_experiment, write_run
from tests.factories import make_result

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
VOID = {"meta", "img", "br", "hr", "link", "input"}
HOSTILE_CAMPAIGN = '"><script>alert(1)<'
HOSTILE_MODEL = "<script>alert(2)</script>"
HOSTILE_MESSAGE = "</td></tr></table><script>alert(3)</script>"


@dataclass
class Parsed:
    """What the stdlib parser saw: the tags opened, the text, each table's header and row widths."""

    start_tags: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    title: str = ""
    tables: list[tuple[int, list[int]]] = field(default_factory=list)  # (headers, cells per row)


class StrictParser(HTMLParser):
    """Fails on an end tag that closes anything but the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.parsed = Parsed()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parsed.start_tags.append(tag)
        if tag == "table":
            self.parsed.tables.append((0, []))
        elif tag == "th":
            headers, rows = self.parsed.tables[-1]
            self.parsed.tables[-1] = (headers + 1, rows)
        elif tag == "tr" and "tbody" in self.open:
            self.parsed.tables[-1][1].append(0)
        elif tag == "td":
            self.parsed.tables[-1][1][-1] += 1
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, text: str) -> None:
        if self.open and self.open[-1] == "title":
            self.parsed.title += text
        if text.strip():
            self.parsed.text.append(text)


def parse(html: str) -> Parsed:
    parser = StrictParser()
    parser.feed(html)
    parser.close()
    assert parser.open == [], f"left open: {parser.open}"
    for headers, rows in parser.parsed.tables:
        assert rows and all(cells == headers for cells in rows), (headers, rows)
    return parser.parsed


def _measured(root: Path, name: str = "demo") -> Path:
    campaign = root / name
    for batch in (1, 4):
        write_experiment(campaign, f"b{batch}", [10.0, 11.0, 12.5], batch_size=batch)
    return campaign


def _warned(root: Path) -> Path:
    campaign = _measured(root)
    (run_dir, *_) = write_experiment(campaign, "b8", [9.0, 9.5], batch_size=8)
    add_warnings(run_dir, "throttled")
    return campaign


def test_a_campaign_name_config_value_and_warning_message_reach_the_page_as_text(tmp_path: Path) -> None:
    campaign = _measured(tmp_path, HOSTILE_CAMPAIGN)
    spec = make_spec("hostile", 0).model_copy(update={"model": HOSTILE_MODEL})
    result = make_result(spec, energy_j=10.0)
    warning = RunWarning(kind="throttled", message=HOSTILE_MESSAGE)
    write_run(campaign, spec, result.model_copy(update={"warnings": (warning,)}))
    html = write_report(campaign).read_text()
    assert "<script" not in html
    parsed = parse(html)
    assert "script" not in parsed.start_tags
    assert parsed.title == f"camp report — {HOSTILE_CAMPAIGN}"
    text = "".join(parsed.text)
    assert f"model={HOSTILE_MODEL}" in text  # the config label in the warnings table
    assert HOSTILE_MODEL in parsed.text and HOSTILE_MESSAGE in parsed.text  # whole cells, unbroken


@pytest.mark.parametrize(
    ("make", "exclude", "state", "sections"),
    [
        (lambda root: root / "empty", (), "no_runs", ["Data"]),
        (_measured, (), "measured", ["Experiments", "Plots", "Data"]),
        (_warned, (), "measured", ["Experiments", "Plots", "Warnings", "Data"]),
        (_warned, ("throttled",), "measured", ["Experiments", "Plots", "Warnings", "Data"]),
    ],
    ids=["no runs", "measured", "with warnings", "with excluded runs"],
)
def test_the_page_is_well_formed_in_every_state(
    tmp_path: Path, make: Callable[[Path], Path], exclude: tuple[str, ...], state: str, sections: list[str]
) -> None:
    campaign = make(tmp_path)
    campaign.mkdir(parents=True, exist_ok=True)
    tables = aggregate.aggregate_campaign(campaign, exclude_warned=exclude)
    report_data = data.report_data(campaign, tables)
    assert report_data.state == state
    html = page.render_page(report_data)
    parsed = parse(html)
    headings = [t.strip() for t in parsed.text]
    assert [h for h in headings if h in ("Experiments", "Plots", "Warnings", "Data")] == sections
    assert parsed.start_tags.count("img") == len(report_data.plots)
    assert ("excluded" in parsed.text) == bool(exclude)  # the column of runs left out


def test_a_page_with_every_run_excluded_has_its_table_and_warnings_but_no_plot(tmp_path: Path) -> None:
    campaign = tmp_path / "demo"
    for cycle_dir in write_experiment(campaign, "a", [10.0, 11.0]):
        add_warnings(cycle_dir, "throttled")
    tables = aggregate.aggregate_campaign(campaign, exclude_warned=["all"])
    report_data = data.report_data(campaign, tables)
    assert report_data.state == "all_excluded" and report_data.plots == []
    parsed = parse(page.render_page(report_data))
    assert "img" not in parsed.start_tags
    assert len(parsed.tables) == 2  # the experiments, and the throttled runs
    assert "Every run was excluded: no interval and no plot." in parsed.text


def test_the_figures_written_are_the_plots_the_data_lists(tmp_path: Path) -> None:
    campaign = _measured(tmp_path)
    report_data = data.report_data(campaign, aggregate.aggregate_campaign(campaign))
    written = figures.draw_figures(report_data, tmp_path)
    assert [p.name for p in written] == [p.filename for p in report_data.plots]
    assert [p.filename for p in report_data.plots] == [
        "energy_vs_params_batch_size.png",
        "pareto.png",
        "energy_vs_latency.png",
    ]


def test_every_energy_series_gets_its_own_colour() -> None:
    assert len(set(figures.PALETTE)) >= data.MAX_SERIES


def test_an_undefined_name_in_the_template_is_an_error_not_blank() -> None:
    template = page.environment().from_string("{{ data.no_such_field }}")
    with pytest.raises(jinja2.UndefinedError):
        template.render(data={})


def test_the_templates_are_package_data_of_an_installed_camp() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["orchestrator.report"]
    package = REPO / "orchestrator" / "report"
    templates = [p.relative_to(package).as_posix() for p in (package / "templates").iterdir()]
    assert page.TEMPLATE in [Path(t).name for t in templates]
    for template in templates:
        assert any(fnmatch.fnmatch(template, pattern) for pattern in patterns), template
    host_list = (REPO / "orchestrator" / "requirements.txt").read_text().splitlines()
    assert any(dep.startswith("jinja2") for dep in host_list)  # the base install's (see test_dependencies)
