"""``python -m scipix bench --json FILE`` (scipix.tools.bench_record) and the
pages drawn from results files (scipix.tools.bench_pages): every table with
its machine, checked on load, and every committed results file renders."""
import json
import pathlib
import subprocess
import sys

import pytest

from scipix.tools import bench_pages
from scipix.tools.bench_record import SCHEMA, Table, load

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = sorted((ROOT / "docs" / "benchmarks" / "results").glob("*.json"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "run.json"
    result = subprocess.run(
        [sys.executable, "-m", "scipix", "bench", "--sizes", "32", "--repeat", "2",
         "--batch", "2", "--kernels", "grayscale", "batch", "scaling", "--json", str(path)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return load(path), result.stdout


def test_json_holds_every_printed_table_and_the_machine(recorded):
    data, stdout = recorded
    assert data["schema"] == SCHEMA
    assert data["command"].startswith("python -m scipix bench --sizes 32")
    machine = data["machine"]
    assert machine["cpu"] and machine["variant"] and machine["threads"] >= 1
    assert len(machine["load_average"]) == 3 and "numpy" in machine["libraries"]
    names = [table["name"] for table in data["tables"]]
    assert names == ["kernels", "batch", "scaling"]
    kernels = data["tables"][0]
    assert [(row["kernel"], row["size"]) for row in kernels["rows"]] == [
        ("grayscale", 32), ("grayscale rgb", 32)]
    assert all(row[name] > 0 for row in kernels["rows"] for name in ("scalar", "simd 1T"))
    assert all(row["numpy"] is None for row in kernels["rows"])   # not grayscale's peer
    assert [row["threads"] for row in data["tables"][2]["rows"]][0] == 1
    assert "grayscale rgb" in stdout                                # the text output stays


def test_a_row_must_fill_every_column():
    table = Table("t", "a table", ["case"], ["scipix", "peer"], ours="scipix")
    with pytest.raises(ValueError, match="columns are"):
        table.add(case="a", scipix=1.0)
    with pytest.raises(ValueError, match="ours="):
        Table("t", "a table", ["case"], ["scipix"], ours="other")


def test_load_names_the_file_and_the_fault(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ValueError, match="bad.json: schema"):
        load(path)
    good = json.loads(RESULTS[0].read_text())
    good["tables"][0]["rows"][0].pop(good["tables"][0]["keys"][0])
    path.write_text(json.dumps(good))
    with pytest.raises(ValueError, match="has a row"):
        load(path)


def test_results_are_committed_for_every_benchmark_page():
    pages = (ROOT / "docs" / "benchmarks").glob("*.rst")
    named = {line.split("results/")[1].strip() for page in pages
             for line in page.read_text().splitlines() if ".. bench-results::" in line}
    assert named and named <= {path.name for path in RESULTS}


@pytest.mark.parametrize("path", RESULTS, ids=[path.name for path in RESULTS])
def test_committed_results_render(path, tmp_path):
    data = load(path)
    assert data["tables"]
    for table in data["tables"]:
        header, rows = bench_pages.table_rows(table)
        assert rows and all(len(cells) == len(header) for cells in rows)
        assert data["machine"]["cpu"] in bench_pages.machine_line(data, table)
        if table["chart"]:
            pytest.importorskip("matplotlib")
            image = tmp_path / f"{table['name']}.png"
            bench_pages.chart(data, table, image)
            assert image.read_bytes()[:4] == b"\x89PNG"


def test_readme_headline_table_is_what_the_results_give():
    readme = (ROOT / "README.md").read_text()
    table = bench_pages.readme_table(ROOT / "docs" / "benchmarks" / "results")
    assert table.count("\n") >= 4
    assert bench_pages.readme_with_table(readme, table) == readme, (
        "README.md's headline figures differ from the results files: run "
        "python -m scipix.tools.bench_pages readme --write README.md")
