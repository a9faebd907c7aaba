"""Which camp code produced a result: the revision baked into an image, else the checkout's own
(found from where the harness code lies, dirty when camp's code there changed), else unknown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import harness
from camp_contract.image_variables import IMAGE_VARIABLES, without_image_variables
from camp_contract.models import Provenance, RunResult
from harness.provenance import checkout_revision, current_provenance
from tests.factories import make_result, run_spec

REPO = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def camp_checkout(root: Path) -> Path:
    """A committed checkout laid out like camp's; returns its harness directory."""
    harness_dir = root / "containers" / "harness"
    harness_dir.mkdir(parents=True)
    (harness_dir / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (root / "orchestrator").mkdir()
    (root / "orchestrator" / "__init__.py").touch()
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("notes\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return harness_dir


def test_a_clean_checkout_reports_its_commit(tmp_path: Path) -> None:
    harness_dir = camp_checkout(tmp_path)
    assert checkout_revision(harness_dir) == git(tmp_path, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    "change",
    [
        lambda root: (root / "containers" / "harness" / "__init__.py").write_text('__version__ = "9"\n'),
        lambda root: (root / "orchestrator" / "new_module.py").write_text("x = 1\n"),  # untracked code
    ],
)
def test_changed_code_makes_the_revision_dirty(tmp_path: Path, change) -> None:
    harness_dir = camp_checkout(tmp_path)
    change(tmp_path)
    assert checkout_revision(harness_dir) == git(tmp_path, "rev-parse", "HEAD") + "-dirty"


def test_a_change_outside_the_code_leaves_it_clean(tmp_path: Path) -> None:
    harness_dir = camp_checkout(tmp_path)
    (tmp_path / "docs" / "notes.md").write_text("edited\n")
    assert checkout_revision(harness_dir) == git(tmp_path, "rev-parse", "HEAD")


def test_an_installed_copy_inside_another_repository_is_not_that_repositorys_code(tmp_path: Path) -> None:
    # e.g. a wheel installed into a venv that lives inside a researcher's own project
    site = tmp_path / ".venv" / "lib" / "site-packages" / "harness"
    site.mkdir(parents=True)
    (tmp_path / "README.md").write_text("my project\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "README.md")
    git(tmp_path, "commit", "-q", "-m", "mine")
    assert checkout_revision(site) is None


def test_no_repository_and_no_git_are_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loose = tmp_path / "containers" / "harness"
    loose.mkdir(parents=True)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # do not find a repo above tmp
    assert checkout_revision(loose) is None
    harness_dir = camp_checkout(tmp_path / "checkout")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert checkout_revision(harness_dir) is None
    assert current_provenance({}).source_revision == "unknown"


def test_an_image_reports_what_was_baked_into_it_and_what_the_host_passed() -> None:
    environ = {
        "CAMP_SOURCE_REVISION": "abc123",
        "CAMP_IMAGE": "camp-vllm",
        "CAMP_IMAGE_ID": "sha256:" + "1" * 64,
        "CAMP_IMAGE_DIGEST": "registry.example/camp-vllm@sha256:" + "2" * 64,
        "CAMP_BASE_IMAGE": "vllm/vllm-openai:v0.11.0",
        "CAMP_HOST": "node7",  # the node, passed in: a container's own hostname is its ID
        "CAMP_SLURM_JOB_ID": "4242",
    }
    assert current_provenance(environ) == Provenance(
        camp_version=harness.__version__,
        source_revision="abc123",
        image="camp-vllm",
        image_id="sha256:" + "1" * 64,
        image_digest="registry.example/camp-vllm@sha256:" + "2" * 64,
        base_image="vllm/vllm-openai:v0.11.0",
        hostname="node7",
        slurm_job_id="4242",
    )


def test_outside_an_image_the_revision_is_this_checkouts() -> None:
    provenance = current_provenance({})
    assert provenance.source_revision.split("-")[0] == git(REPO, "rev-parse", "HEAD")
    assert provenance.image is None and provenance.image_id is None


def test_a_process_outside_any_image_does_not_inherit_image_facts_from_a_shell() -> None:
    environ = {name: "stale" for name in IMAGE_VARIABLES} | {"PATH": "/bin"}
    assert without_image_variables(environ) == {"PATH": "/bin"}


def test_the_build_arg_command_prints_this_checkouts_revision() -> None:
    done = subprocess.run(
        [sys.executable, "-S", "-m", "harness.provenance"],  # -S: no site-packages, stdlib only
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "containers"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().split("-")[0] == git(REPO, "rev-parse", "HEAD")


def test_the_reported_version_is_the_packages() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert harness.__version__ == pyproject["project"]["version"]


def test_results_from_before_provenance_and_sampling_still_load() -> None:
    dumped = json.loads(make_result(run_spec()).model_dump_json())
    del dumped["provenance"], dumped["sampling"]
    result = RunResult.model_validate(dumped)
    assert result.provenance.source_revision == "unknown" and result.sampling is None
