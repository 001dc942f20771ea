"""Diagram files: SVG and PNG through Graphviz's `dot`, and every format written to a folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import graphviz

from workflow.diagrams.dot import to_dot
from workflow.diagrams.mermaid import to_mermaid
from workflow.diagrams.scxml import to_scxml
from workflow.domain import Step
from workflow.engine import Definition

FORMATS = ("dot", "svg", "png", "mermaid", "scxml")
"""Every format `write_diagrams` knows (`"all"` means all of them)."""
TEXT_FORMATS = ("dot", "mermaid", "scxml")
SUFFIX = {"dot": ".dot", "svg": ".svg", "png": ".png", "mermaid": ".mmd", "scxml": ".scxml"}
INSTALL_HINT = ("install Graphviz to render SVG/PNG: `apt-get install graphviz` (Debian/Ubuntu) "
                "or `brew install graphviz` (macOS)")


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` is not installed; `written` lists the text files written anyway."""

    def __init__(self, written: Sequence[Path] = ()) -> None:
        super().__init__(f"Graphviz's `dot` was not found: {INSTALL_HINT}")
        self.written = list(written)


def dot_available() -> bool:
    """Whether Graphviz's `dot` is on the PATH (needed for SVG and PNG only)."""
    return shutil.which("dot") is not None


def render(dot_source: str, fmt: str = "svg") -> bytes:
    """Render DOT source to `fmt` (`svg`, `png`) with Graphviz's `dot`."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"dot renders svg or png here, not {fmt!r}")
    try:
        image: bytes = graphviz.pipe("dot", fmt, dot_source.encode())
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFound from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip()
        raise RuntimeError(f"dot failed to render {fmt}: {detail}") from exc
    return image


def expand_formats(formats: Iterable[str] | str) -> list[str]:
    """The formats named (`"all"` meaning every one), validated, in a stable order."""
    names = [formats] if isinstance(formats, str) else list(formats)
    wanted = set(FORMATS) if "all" in names else set(names)
    unknown = sorted(wanted - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown diagram format {', '.join(unknown)}; "
                         f"choose from {', '.join(FORMATS)} or all")
    return [f for f in FORMATS if f in wanted]


def write_diagrams(out_dir: Path | str, formats: Iterable[str] | str = "all",
                   definition: Definition[Any, Any] | None = None, history: Sequence[Step] | None = None,
                   *, current: Any = None, stem: str = "activation",
                   settings: Any = None) -> list[Path]:
    """Write `<stem>.{dot,svg,png,mmd,scxml}` for `formats` into `out_dir`; return the paths.

    Text formats are written first; if SVG/PNG were asked for and `dot` is missing, raises
    `GraphvizNotFound` whose `written` lists the text files written.
    """
    chosen = expand_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dot = to_dot(definition, history, current, settings)
    texts = {"dot": dot, "mermaid": to_mermaid(definition, history, current, settings),
             "scxml": to_scxml(definition, settings)}
    written = []
    for fmt in (f for f in chosen if f in TEXT_FORMATS):
        path = out / f"{stem}{SUFFIX[fmt]}"
        path.write_text(texts[fmt], encoding="utf-8")
        written.append(path)
    images = [f for f in chosen if f not in TEXT_FORMATS]
    if images and not dot_available():
        raise GraphvizNotFound(written)
    for fmt in images:
        path = out / f"{stem}{SUFFIX[fmt]}"
        path.write_bytes(render(dot, fmt))
        written.append(path)
    return written
