"""The results table: markdown for people, JSON for machines, both from the same run.

The markdown starts with the command line, checkpoint(s), seeds, data folder, code version and date, then

1. a summary table, one row per task and one column per method (classical baseline, rotation-augmented
   baseline, learned probe and fine-tune per checkpoint family, random-init control), each cell the balanced
   accuracy in percent as mean ± std over seeds, next to chance level (``1 / n_classes``);
2. a detailed table, one row per task and method, with accuracy, balanced accuracy and macro-F1 (mean ± std over
   seeds, percent), the number of seeds, mean training/test windows per fold and the wall time;
3. notes: window counts, data left out, the leakage check, warnings.

The JSON (``write`` puts it beside the markdown, same name with ``.json``) holds the same header, every seed's
metrics and every fold's, so a figure in the markdown can be traced to its runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biosig.evaluation.benchmark import MethodResult
from biosig.evaluation.metrics import METRICS

__all__ = ["ResultsTable"]

log = logging.getLogger(__name__)

BASELINE_COLUMNS = (
    "classical baseline",
    "baseline, rotation-aug.",
    "baseline, energy-aligned",
    "baseline, TD + probe",
    "baseline, per-participant std.",
)
METRIC_TITLES = {"accuracy": "accuracy", "balanced_accuracy": "balanced acc.", "macro_f1": "macro-F1"}


@dataclass
class ResultsTable:
    """Results of one evaluation run with its header (command, checkpoints, seeds, ...)."""

    header: dict[str, Any]
    results: list[MethodResult]
    notes: list[str] = field(default_factory=list)

    def _columns(self) -> list[str]:
        """Baselines first (fixed order), then learned probes, learned fine-tuning, random-init probes and
        fine-tuning, each group in command-line order of the encoders, then in the order the rows were run."""
        seen: list[str] = []
        encoder: dict[str, int] = {}
        for r in self.results:
            if r.column not in seen:
                seen.append(r.column)
                encoder[r.column] = r.encoder_index

        def rank(column: str) -> tuple[int, int, int]:
            if column in BASELINE_COLUMNS:
                return 0, BASELINE_COLUMNS.index(column), 0
            control = "random-init control" in column
            if column.startswith("probe"):
                group = 3 if control else 1
            elif column.startswith("fine-tune"):
                group = 4 if control else 2
            else:
                group = 5
            return group, encoder[column], seen.index(column)

        return sorted(seen, key=rank)

    def _tasks(self) -> list[str]:
        seen: list[str] = []
        for r in self.results:
            if r.task not in seen:
                seen.append(r.task)
        return seen

    def to_markdown(self) -> str:
        """The whole report as markdown (see the module docstring)."""
        lines = ["# biosig evaluation", ""]
        for key, value in self.header.items():
            if isinstance(value, (list, tuple)):
                value = " ".join(map(str, value))
            shown = f"`{value}`" if key in ("command", "checkpoint", "data_dir") else str(value)
            lines.append(f"- **{key}**: {shown}")
        lines += ["", "## Balanced accuracy (%, mean ± std over seeds)", ""]
        columns = self._columns()
        lines.append("| task | chance | " + " | ".join(columns) + " |")
        lines.append("|---|---|" + "---|" * len(columns))
        for task in self._tasks():
            rows = [r for r in self.results if r.task == task]
            cells = []
            for column in columns:
                match = [r for r in rows if r.column == column]
                cells.append("; ".join(r.summary["balanced_accuracy"].format() for r in match) if match else "")
            chance = 100.0 / rows[0].n_classes
            lines.append(f"| {task} | {chance:.1f} | " + " | ".join(cells) + " |")
        lines += ["", "## All metrics (%, mean ± std over seeds)", ""]
        titles = [METRIC_TITLES[m] for m in METRICS]
        lines.append(
            "| task | method | " + " | ".join(titles) + " | seeds | train / test windows per fold | time (s) |"
        )
        lines.append("|---|---|" + "---|" * (len(titles) + 3))
        for r in self.results:
            n_train = np.mean([f["n_train"] for run in r.runs for f in run["folds"]])
            n_test = np.mean([f["n_test"] for run in r.runs for f in run["folds"]])
            metrics = " | ".join(r.summary[m].format() for m in METRICS)
            lines.append(
                f"| {r.task} | {r.method} | {metrics} | {r.summary['accuracy'].n} | {n_train:.0f} / {n_test:.0f} "
                f"| {r.seconds:.1f} |"
            )
        extra = [f"{r.task} / {r.method}: {n}" for r in self.results for n in r.notes]
        if self.notes or extra:
            lines += ["", "## Notes", ""]
            lines += [f"- {n}" for n in [*self.notes, *extra]]
        return "\n".join(lines) + "\n"

    def to_json_dict(self) -> dict[str, Any]:
        return {"header": self.header, "results": [r.to_dict() for r in self.results], "notes": self.notes}

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Write the markdown to ``path`` and the JSON beside it (``.json`` suffix); returns both paths."""
        md = Path(path)
        md.parent.mkdir(parents=True, exist_ok=True)
        js = md.with_suffix(".json")
        if js == md:
            raise ValueError(f"out path {md} must not end in .json; the JSON is written beside the markdown")
        md.write_text(self.to_markdown(), encoding="utf-8")
        js.write_text(json.dumps(self.to_json_dict(), indent=2, default=_json_default) + "\n", encoding="utf-8")
        log.info("wrote %s and %s", md, js)
        return md, js


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, Sequence)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
