"""Server-mode runs on the host: goodput and attainment under the SLO, the serving columns and
their intervals over cycles, the terminal's serving table and the report's serving section —
from synthetic results written with the contract's models."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from camp_contract import layout
from orchestrator import aggregate, cli, goodput, slo, stats
from orchestrator.report import format_campaign_summary, write_report
from orchestrator.report.serving_data import ServingLine, knee, knee_text, load_positions
from tests.aggregate.helpers import t_interval, write_experiment
from tests.aggregate.serving_helpers import (
    WINDOW,
    Req,
    serving_spec,
    window_requests,
    write_load_sweep,
    write_requests,
    write_serving_run,
)

SLO = slo.ServiceLevel(ttft_p90_s=0.5, tpot_p90_s=0.05)
RATES = [1.0, 4.0, 16.0, math.inf]


def _requests_frame(requests: list[Req]) -> pd.DataFrame:
    return pd.DataFrame([r.row(i) for i, r in enumerate(requests)])


def test_goodput_counts_good_completions_in_the_window_and_attainment_over_its_requests() -> None:
    requests = [
        Req("measured", 10.0, 0.1),  # good, done at 10.2
        Req("measured", 11.0, 0.6),  # TTFT over 0.5 s
        Req("measured", 12.0, 0.1, tpot_s=0.06),  # TPOT over 0.05 s
        Req("measured", 13.0, None),  # failed
        Req("measured", 19.9, 0.2),  # good, but done at 20.2: in the drain
        Req("warmup", 9.9, 0.2),  # good, done at 10.2 in the window: not the window's own
        Req("drain", 20.1, 0.1),  # scheduled after the window
    ]
    found = goodput.run_goodput(_requests_frame(requests), WINDOW, 10.0, SLO)
    assert found.window_requests == 5
    assert found.good_requests == 2  # the first and the one finishing in the drain
    assert found.attainment == pytest.approx(2 / 5)
    assert found.goodput_rps == pytest.approx(2 / 10.0)  # the first and the warmup one, done in the window


def test_one_threshold_alone_judges_and_a_one_token_answer_has_no_tpot_to_miss() -> None:
    frame = _requests_frame([Req("measured", 10.0, 0.1, tpot_s=1.0), Req("measured", 11.0, 0.9)])
    ttft_only = goodput.run_goodput(frame, WINDOW, 10.0, slo.ServiceLevel(ttft_p90_s=0.5))
    tpot_only = goodput.run_goodput(frame, WINDOW, 10.0, slo.ServiceLevel(tpot_p90_s=0.05))
    assert (ttft_only.good_requests, tpot_only.good_requests) == (1, 1)
    one_token = frame.assign(output_tokens=1)
    assert goodput.good_requests(one_token, slo.ServiceLevel(tpot_p90_s=0.05)).tolist() == [True, True]


def test_serving_columns_carry_units_and_the_windows_energy_per_request(tmp_path: Path) -> None:
    write_load_sweep(tmp_path / "serving", RATES, cycles=2)
    tables = aggregate.aggregate_campaign(tmp_path / "serving", service_level=SLO)
    runs = tables.runs
    for column in ("achieved_rate_rps", "ttft_p90_s", "tpot_p99_s", "itl_p50_s", "e2e_p90_s", "goodput_rps"):
        assert runs[column].dtype == "float64", column
    assert "slo_attainment_pct" in runs.columns and runs["requests_completed"].dtype == "Int64"
    first = runs[(runs["exp_id"] == "rate0") & (runs["cycle"] == 0)].iloc[0]
    assert first["energy_per_request_j"] == pytest.approx(2.1)  # the serving window's, not Metrics'
    assert first["slo_attainment_pct"] == pytest.approx(100.0)
    assert runs.loc[runs["exp_id"] == "rate3", "slo_attainment_pct"].tolist() == pytest.approx([60.0, 60.0])
    csv_header = (layout.aggregate_dir(tmp_path / "serving") / "experiments.csv").read_text().splitlines()[0]
    assert "goodput_rps_mean" in csv_header and "ttft_p90_s_low" in csv_header and "slo_met" in csv_header


def test_serving_intervals_are_over_cycles_with_the_energy_method(tmp_path: Path) -> None:
    write_load_sweep(tmp_path / "serving", RATES, cycles=3)
    tables = aggregate.aggregate_campaign(tmp_path / "serving", service_level=SLO)
    row = tables.experiments.set_index("exp_id").loc["rate2"]
    per_cycle = tables.runs.loc[tables.runs["exp_id"] == "rate2", "ttft_p90_s"].to_numpy()
    assert row["ttft_p90_s_mean"] == pytest.approx(per_cycle.mean())
    assert (row["ttft_p90_s_low"], row["ttft_p90_s_high"]) == pytest.approx(t_interval(per_cycle))
    assert row["ttft_p90_s_method"] == stats.method_for(3) == row["energy_per_request_j_method"]
    assert row["achieved_rate_rps_n"] == 3
    met = tables.experiments.set_index("exp_id")["slo_met"]
    assert met.to_dict() == {"rate0": True, "rate1": True, "rate2": False, "rate3": False}


def test_changing_the_slo_re_counts_goodput_from_the_same_runs(tmp_path: Path) -> None:
    write_load_sweep(tmp_path / "serving", RATES, cycles=2)
    strict = aggregate.aggregate_campaign(tmp_path / "serving", service_level=SLO).experiments
    lenient = aggregate.aggregate_campaign(
        tmp_path / "serving", service_level=slo.ServiceLevel(ttft_p90_s=5.0)
    ).experiments
    assert strict["slo_met"].tolist() == [True, True, False, False]
    assert lenient["slo_met"].tolist() == [True, True, True, True]
    assert lenient["energy_per_request_j_mean"].tolist() == strict["energy_per_request_j_mean"].tolist()


def test_without_an_slo_there_is_no_goodput_and_offline_tables_are_as_before(tmp_path: Path) -> None:
    write_load_sweep(tmp_path / "serving", RATES, cycles=2)
    no_slo = aggregate.aggregate_campaign(tmp_path / "serving")
    assert "goodput_rps" not in no_slo.runs.columns and "slo_met" not in no_slo.experiments.columns
    assert "ttft_p90_s_mean" in no_slo.experiments.columns
    write_experiment(tmp_path / "offline", "off", [10.0, 11.0])
    offline = aggregate.aggregate_campaign(tmp_path / "offline", service_level=SLO)
    assert not {"achieved_rate_rps", "ttft_p90_s", "goodput_rps"} & set(offline.runs.columns)
    assert not any(c.startswith(("ttft_", "goodput")) for c in offline.experiments.columns)


def test_a_run_whose_requests_cannot_be_read_keeps_its_energy_and_is_named(tmp_path: Path) -> None:
    campaign = tmp_path / "serving"
    spec = serving_spec("lost", 0, rate=2.0)
    run_dir = write_serving_run(campaign, spec, ttft_p90_s=0.1, energy_per_request_j=3.0, achieved_rps=2.0)
    broken = serving_spec("broken", 0, rate=4.0)
    broken_dir = write_serving_run(
        campaign, broken, ttft_p90_s=0.1, energy_per_request_j=3.0, achieved_rps=4.0
    )
    layout.RunFiles(broken_dir).requests.write_bytes(b"not parquet")
    tables = aggregate.aggregate_campaign(campaign, service_level=SLO)
    assert tables.runs["energy_per_request_j"].tolist() == [3.0, 3.0]
    assert tables.runs["goodput_rps"].isna().all()
    assert any(str(layout.RunFiles(run_dir).requests) in u and "missing" in u for u in tables.unreadable)
    assert any("requests.parquet: cannot be read" in u for u in tables.unreadable)


def test_knee_is_the_highest_load_meeting_the_slo() -> None:
    rows = pd.DataFrame(
        {"workload.request_rate": [1.0, 4.0, 16.0, math.inf], "slo_attainment_pct_mean": [100, 95, 40, 10]}
    )
    assert knee(rows, "workload.request_rate") == 4.0
    assert knee(rows.assign(slo_attainment_pct_mean=80), "workload.request_rate") is None
    assert knee(rows.assign(slo_attainment_pct_mean=90), "workload.request_rate") == math.inf
    assert knee(rows.drop(columns="slo_attainment_pct_mean"), "workload.request_rate") is None


def test_a_line_that_meets_the_slo_even_saturated_says_so_with_its_throughput() -> None:
    rows = pd.DataFrame({"workload.request_rate": [1.0, math.inf], "achieved_rate_rps_mean": [1.0, 42.0]})
    text = knee_text(ServingLine("", rows, math.inf), "workload.request_rate", has_slo=True)
    assert text == "all experiments: the SLO holds even saturated (rate=inf, 42 requests/s achieved)"


def test_an_infinite_rate_sits_one_step_past_the_largest_finite_load() -> None:
    positions, ticks, labels, log = load_positions(pd.Series([1.0, 4.0, 16.0, math.inf]))
    assert log and labels == ["1", "4", "16", "inf"]
    assert positions.tolist() == pytest.approx([0.0, 2.0, 4.0, 6.0]) and ticks == pytest.approx([0, 2, 4, 6])


def test_terminal_summary_has_a_serving_table(tmp_path: Path) -> None:
    write_load_sweep(tmp_path / "serving", RATES, cycles=2)
    text = format_campaign_summary(aggregate.aggregate_campaign(tmp_path / "serving", service_level=SLO))
    assert "serving (95% CI over cycles):" in text
    # the load as every label writes it, in the experiments table as in the serving table
    assert "request_rate=" not in text and text.count("rate=16/s") == 2 and text.count("rate=inf") >= 2
    header = next(line for line in text.splitlines() if line.startswith("exp_id  load "))
    for column in (
        "achieved (req/s)",
        "J/request",
        "TTFT p90 (ms)",
        "TPOT p90 (ms)",
        "goodput (req/s)",
        "SLO met",
    ):
        assert column in header
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("rate")}
    assert " rate=16/s " in lines["rate2"] and "no (60%)" in lines["rate2"]
    assert " rate=inf " in lines["rate3"] and "yes (100%)" in lines["rate0"]
    assert "rate=inf is the saturation point" in text.replace("\n", " ")
    offline = tmp_path / "offline"
    write_experiment(offline, "off", [10.0, 11.0])
    assert "serving" not in format_campaign_summary(aggregate.aggregate_campaign(offline))


def test_the_serving_table_never_cuts_an_exp_id_or_a_load_short(tmp_path: Path) -> None:
    for k, rate in enumerate([2.0, 32.0, math.inf]):  # exp_ids as long as camp's (12 characters)
        for cycle in (0, 1):  # figures with intervals, as wide as a real campaign's
            write_serving_run(
                tmp_path / "c",
                serving_spec(f"{k}" * 12, cycle, rate=rate),
                ttft_p90_s=0.1 + 0.013 * cycle,
                energy_per_request_j=3.0 + 0.37 * cycle,
                achieved_rps=2.0 + 0.0071 * cycle,
                requests=window_requests(20, 0.1 + 0.01 * cycle),
            )
    text = format_campaign_summary(aggregate.aggregate_campaign(tmp_path / "c", service_level=SLO))
    table = text[text.index("serving (95% CI over cycles):") :].splitlines()[3:6]
    assert [line.split()[:2] for line in table] == [
        ["000000000000", "rate=2/s"],
        ["111111111111", "rate=32/s"],
        ["222222222222", "rate=inf"],
    ]


def test_report_has_a_serving_section_with_the_load_sweep_only_for_server_campaigns(tmp_path: Path) -> None:
    campaign = tmp_path / "serving"
    write_load_sweep(campaign, RATES, cycles=3)
    index = write_report(campaign, aggregate.aggregate_campaign(campaign, service_level=SLO))
    html = index.read_text()
    assert "Serving: energy and latency against load" in html
    assert "Load: request rate (requests/s; inf: saturated, n_requests kept in flight)" in html
    assert "knee at rate=4/s, the highest load with ≥ 90% of requests within the SLO" in html
    images = set(re.findall(r'<img src="([^"]+)"', html))
    serving_pngs = {"serving_energy_per_request.png", "serving_ttft_p90.png", "serving_tpot_p90.png"}
    assert serving_pngs | {"serving_goodput.png"} <= images
    assert not any("request_rate" in name for name in images)  # the load is the serving plots' axis
    for name in images:
        assert (index.parent / name).read_bytes().startswith(b"\x89PNG")
    offline = tmp_path / "offline"
    write_experiment(offline, "off", [10.0, 11.0], batch_size=1)
    write_experiment(offline, "off2", [12.0, 13.0], batch_size=2)
    offline_html = write_report(offline).read_text()
    assert "Serving" not in offline_html and "serving_" not in offline_html


def test_camp_report_takes_the_slo_from_the_file_or_from_the_campaign_as_last_run(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_load_sweep(results / "serving", RATES, cycles=2)
    campaign_file = tmp_path / "serving.yaml"
    campaign_file.write_text(
        "name: serving\nmodels: [m]\nbackends: {stub: {}}\n"
        "workload: {mode: server, duration_s: 10}\ngrid: {workload.request_rate: [1, 4, 16, inf]}\n"
        "slo: {ttft_p90_s: 5}\n"
    )
    by_file = CliRunner().invoke(cli.main, ["report", str(campaign_file), "--results-dir", str(results)])
    assert by_file.exit_code == 0, by_file.output
    assert "TTFT ≤ 5 s" in by_file.output and "no (60%)" not in by_file.output
    snapshot = layout.campaign_snapshot_path(results / "serving")
    snapshot.write_text(json.dumps({"name": "serving", "slo": {"ttft_p90_s": 0.5, "tpot_p90_s": 0.05}}))
    by_dir = CliRunner().invoke(cli.main, ["report", str(results / "serving")])
    assert by_dir.exit_code == 0, by_dir.output
    assert "TTFT ≤ 0.5 s and TPOT ≤ 0.05 s" in by_dir.output and "no (60%)" in by_dir.output
    experiments = pd.read_csv(layout.aggregate_dir(results / "serving") / "experiments.csv")
    assert experiments["slo_met"].tolist() == [True, True, False, False]


def test_write_requests_round_trips_through_the_contract_schema(tmp_path: Path) -> None:
    write_requests(tmp_path, [Req("measured", 10.0, 0.1)])
    frame = goodput.read_requests(layout.RunFiles(tmp_path).requests)
    assert frame.columns.tolist() == list(goodput.rq.COLUMNS)


def test_the_outputs_refreshed_after_camp_run_count_goodput_under_the_campaigns_slo(tmp_path: Path) -> None:
    from orchestrator.outputs import refresh_outputs
    from orchestrator.report import format_campaign_summary

    campaign_dir = tmp_path / "serving"
    write_load_sweep(campaign_dir, RATES, cycles=2)
    layout.campaign_snapshot_path(campaign_dir).write_text(
        json.dumps({"name": "serving", "slo": {"ttft_p90_s": 0.5, "tpot_p90_s": 0.05}, "overrides": []})
    )
    refreshed = refresh_outputs(campaign_dir)
    assert refreshed.tables.experiments["slo_met"].tolist() == [True, True, False, False]
    assert "no slo in the campaign" not in format_campaign_summary(refreshed.tables)
    assert "TTFT ≤ 0.5 s" in refreshed.index.read_text()
