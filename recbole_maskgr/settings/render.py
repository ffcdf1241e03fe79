"""The declarations written out: the YAML layers RecBole merges, and docs/settings.md for people.

Both are generated (`python -m recbole_maskgr.settings`); a test fails when a written file differs
from what the declarations give, so the files cannot drift from the checks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from recbole_maskgr.settings import LAYER_MODELS, RECBOLE_DEFAULT, SECTIONS, Section, Setting
from recbole_maskgr.settings.declared import yaml_value
from recbole_maskgr.settings.models import MODEL_SECTIONS
from recbole_maskgr.settings.plugin import PLUGIN_SECTIONS

GENERATED = "Generated from recbole_maskgr/settings/ by `python -m recbole_maskgr.settings`: edit there, not here."


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, 100, break_on_hyphens=False)]


def yaml_layer(sections: tuple[Section, ...], model: str | None) -> str:
    """One layer: every setting of `sections` that `model` reads (all of them for the overall layer)."""
    title = f"{model} defaults" if model else "recbole-maskgr defaults for every model"
    lines = [f"# {title}. {GENERATED}", "# Every setting, its allowed values and meaning: docs/settings.md", ""]
    for section in sections:
        chosen = [s for s in section.settings if model is None or s.read_by(model)]
        if not chosen:
            continue
        lines += [f"# ---- {section.title}", *_comment(section.intro)]
        width = max(len(f"{s.name}: {yaml_value(s.default_for(model or ''))}") for s in chosen)
        for s in chosen:
            entry = f"{s.name}: {yaml_value(s.default_for(model or ''))}"
            lines.append(f"{entry.ljust(width)}  # {s.doc}")
        lines.append("")
    return "\n".join(lines)


def _default_cell(setting: Setting) -> str:
    if setting.default is RECBOLE_DEFAULT:
        return "RecBole's"
    cell = f"`{yaml_value(setting.default)}`"
    return cell + "".join(f" ({m}: `{yaml_value(v)}`)" for m, v in setting.model_defaults.items())


def settings_markdown() -> str:
    """docs/settings.md: one table per section."""
    lines = ["# Settings", "", f"<!-- {GENERATED} -->", "",
             "Every setting recbole-maskgr writes into its YAML layers (`properties/`) or checks, with its default,",
             "the values it takes and the models that read it. Layers, lowest first: RecBole's own defaults <",
             "`properties/overall.yaml` < `properties/model/<Model>.yaml` < `dataset_configs/<dataset>.yaml` <",
             "`--config_files` (a file, or a shipped preset by name: `maskgr-paper`, `maskgr-sid-only`) < the",
             "command line. A mistyped name or a value outside its rule stops the run before any data is loaded.",
             "Settings marked RecBole are RecBole's own (https://recbole.io/docs/user_guide/config_settings.html);",
             "every other RecBole setting keeps RecBole's default and is checked against its type.", ""]
    for section in SECTIONS:
        lines += [f"## {section.title}", "", section.intro, "",
                  "| setting | default | allowed | meaning | read by |", "|---|---|---|---|---|"]
        for s in section.settings:
            owner = " (RecBole)" if s.recbole else ""
            allowed = s.rule.allowed.replace("|", "\\|")
            lines.append(f"| `{s.name}`{owner} | {_default_cell(s)} | {allowed} | {s.doc} | {', '.join(s.models)} |")
        lines.append("")
    return "\n".join(lines)


def generated_files(root: Path) -> dict[Path, str]:
    """Path -> the text the declarations give it."""
    files = {root / "properties" / "overall.yaml": yaml_layer(PLUGIN_SECTIONS, None),
             root / "docs" / "settings.md": settings_markdown()}
    for model in LAYER_MODELS:
        files[root / "properties" / "model" / f"{model}.yaml"] = yaml_layer(MODEL_SECTIONS, model)
    return files


def stale_files(root: Path) -> list[Path]:
    """The generated files whose text on disk differs from the declarations'."""
    return [path for path, text in generated_files(root).items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]
