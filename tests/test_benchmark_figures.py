"""The README's figures come from the results files, and ``run_all.py`` knows every
benchmark: a figure typed by hand, or a benchmark left out of the regeneration, fails here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import figures  # noqa: E402
import run_all  # noqa: E402
import scale_out_figures  # noqa: E402


def test_readme_table_is_the_one_the_results_make() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(figures.BEGIN, 1)[1].split(figures.END, 1)[0].strip()
    assert table == figures.render_table(), "run: python benchmarks/figures.py"
    doc = (ROOT / "docs" / "throughput.md").read_text()
    chain = doc.split(figures.BEGIN, 1)[1].split(figures.END, 1)[0].strip()
    assert chain == figures.render_chain_table(), "run: python benchmarks/figures.py"
    image_io = doc.split(figures.IMAGE_IO_BEGIN, 1)[1].split(figures.END, 1)[0].strip()
    assert image_io == figures.render_image_io_table(), "run: python benchmarks/figures.py"
    doc = (ROOT / "docs" / "scale_out.md").read_text()
    sizing = doc.split(figures.BEGIN, 1)[1].split(figures.END, 1)[0].strip()
    assert sizing == scale_out_figures.render_scale_out_table(), "run: benchmarks/figures.py"


def test_scale_out_figures_follow_the_chain_results(tmp_path: Path) -> None:
    """Doubling a stage's CPU time adds exactly that time to the corpus's core-hours."""
    chain = json.loads((ROOT / "benchmarks" / "results" / "chain.json").read_text())
    before = scale_out_figures.scale_out_figures(chain)["corpora"][0]
    ms = chain["stages"]["voxelize"]["cpu_ms_per_frame"]
    chain["stages"]["voxelize"]["cpu_ms_per_frame"] = 2 * ms
    after = scale_out_figures.scale_out_figures(chain)["corpora"][0]
    added = before["frames"] * ms / 1000 / 3600
    assert abs(after["core_hours"] - before["core_hours"] - added) < 1e-6 * added
    (tmp_path / "chain.json").write_text(json.dumps(chain))
    assert f"{after['core_hours']:,.0f}" in scale_out_figures.render_scale_out_table(tmp_path)


def test_every_results_file_and_benchmark_script_is_run_by_run_all() -> None:
    names = {b.name for b in run_all.BENCHMARKS}
    results = {p.stem for p in (ROOT / "benchmarks" / "results").glob("*.json")}
    assert results <= names, f"results no benchmark regenerates: {sorted(results - names)}"
    scripts = {b.script for b in run_all.BENCHMARKS}
    helpers = {
        "benchmarks/run_all.py",
        "benchmarks/figures.py",
        "benchmarks/scale_out_figures.py",
        "benchmarks/cpu_ceiling.py",  # chain.py's machine ceiling (its figures go in chain.json)
    }
    pictures = {"benchmarks/synthetic_contact_sheet.py"}  # writes a PNG for the docs, no figures
    on_disk = {f"benchmarks/{p.name}" for p in (ROOT / "benchmarks").glob("*.py")}
    assert on_disk - helpers - pictures <= scripts, sorted(on_disk - helpers - pictures - scripts)
    for bench in run_all.BENCHMARKS:
        assert (ROOT / bench.script).is_file(), bench.script


def test_a_row_reads_its_figure_from_the_results(tmp_path: Path) -> None:
    """Changing a number in a results file changes the table: nothing is cached or typed."""
    source = ROOT / "benchmarks" / "results" / "maps_and_volumes.json"
    data = json.loads(source.read_text())
    data["render_1024"]["fps_two_processes"] = 123.4
    (tmp_path / "maps_and_volumes.json").write_text(json.dumps(data))
    table = figures.render_table(tmp_path)
    assert "| 123 frames/s |" in table
    assert table.count("**not measured yet**") == len(figures.ROWS) - 3  # its three rows
