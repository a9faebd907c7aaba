"""``camp-harness calibrate`` (which ``camp calibrate`` runs) end to end on the synthetic source
with short windows, and its one-line errors; in this process, so the fake NVML stands in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import cli
from harness.measurement import nvml
from tests.harness.fake_nvml import FakeGpu, FakeNvml, NVMLError

SHORT = ["--windows", "0.1,0.3", "--idle-s", "0.1", "--settle-s", "0"]


class NoDriver(FakeNvml):
    """NVML where no NVIDIA driver is installed."""

    def nvmlInit(self) -> None:
        raise NVMLError("NVML Shared Library Not Found")


def test_calibrate_on_the_synthetic_source_prints_verdicts_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    result = CliRunner().invoke(cli.main, ["calibrate", "--source", "synthetic", *SHORT, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "counter update step      0.1" in result.output
    assert "idle power, bare             40.0 W" in result.output
    assert "too short" in result.output  # a 0.1 s step on 0.1 and 0.3 s windows
    assert "no tested window is metered within 2%" in result.output
    saved = json.loads(out.read_text())
    assert saved["source"] == "synthetic" and saved["format_version"] == 1
    assert [w["window_s"] for w in saved["windows"]] == [0.1, 0.3]
    assert [w["verdict"] for w in saved["windows"]] == ["too_short", "too_short"]
    assert saved["counter_step"]["step_s"] == pytest.approx(0.1, abs=0.02)
    assert saved["idle_bare"]["power_w"] == 40.0 and saved["idle_cuda_context"] is None
    assert saved["load_power_w"] == pytest.approx(160.0)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temp file left


def test_auto_without_a_gpu_calibrates_the_synthetic_source_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nvml, "pynvml", NoDriver([]))
    result = CliRunner().invoke(cli.main, ["calibrate", *SHORT])
    assert result.exit_code == 0, result.output
    assert "(no GPU found: see the notes)" in result.output
    assert "note: no GPU here (NVML: NVML Shared Library Not Found): calibrated the synthetic source" in (
        result.output
    )
    assert "verdict" in result.output and "too short" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--windows", "0.3,x"], "Invalid value for '--windows': '0.3,x' is not a comma-separated list"),
        (["--windows", "0.01"], "--windows 0.01 s holds fewer than 5 samples at --sample-hz 100"),
        (["--sample-hz", "500"], "--sample-hz must be in (0, 100], not 500"),
        (["--idle-s", "0"], "--idle-s must be positive"),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli.main, ["calibrate", "--source", "synthetic", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_a_gpu_that_cannot_be_had_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml, "pynvml", NoDriver([]))
    result = CliRunner().invoke(cli.main, ["calibrate", "--source", "nvml"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: NVML power source unavailable: NVML Shared Library Not Found"
    monkeypatch.setattr(nvml, "pynvml", FakeNvml([FakeGpu(uuid="GPU-aaaa"), FakeGpu(uuid="GPU-bbbb")]))
    result = CliRunner().invoke(cli.main, ["calibrate", "--gpu", "7"])
    assert result.exit_code == 1
    assert "error: --gpu 7: CUDA_VISIBLE_DEVICES names '7', but NVML sees: 0=GPU-aaaa, 1=GPU-bbbb" in (
        result.output
    )
