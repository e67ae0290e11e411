"""docs/datasets.md is what the dataclasses say: regenerated here, a stale copy fails."""

from __future__ import annotations

from pathlib import Path

from hpt_data.docs_gen import DOC_PATH, field_docs, render_datasets_doc
from hpt_data.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


def test_datasets_doc_is_up_to_date() -> None:
    written = (ROOT / DOC_PATH).read_text(encoding="utf-8")
    assert written == render_datasets_doc(), (
        "docs/datasets.md is stale: regenerate it with `python -m hpt_data.docs_gen`"
    )


def test_every_key_has_a_type_default_and_meaning() -> None:
    doc = render_datasets_doc()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    undocumented = [row for row in rows if row.rstrip().endswith("|  |")]
    assert not undocumented, "fields without a comment:\n" + "\n".join(undocumented)
    for stage in STAGES:
        assert f"### `{stage.name}`" in doc
        for key in field_docs(stage.Settings):
            assert f"| `{key}` |" in doc, (stage.name, key)


def test_field_docs_read_comments_beside_above_and_continued() -> None:
    from dataclasses import dataclass

    @dataclass
    class Example:
        a: int = 1
        # above b,
        # on two lines
        b: str = "x"
        c: bool = True  # beside c,
        # continued below it
        d: float = 0.5  # beside d

        # after a blank line: above e
        e: int = 0

    docs = field_docs(Example)
    assert docs["a"] == ("int", "")
    assert docs["b"] == ("str", "above b, on two lines")
    assert docs["c"] == ("bool", "beside c, continued below it")
    assert docs["d"] == ("float", "beside d")
    assert docs["e"] == ("int", "after a blank line: above e")
