"""The architecture table: each layer's state_dict name, type, output width and parameter count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from nncli.config.sections import Config
from nncli.engine.base import Layer, Sequential
from nncli.engine.layers import Residual

if TYPE_CHECKING:
    from nncli.training.trainer import Trainer


@dataclass(frozen=True)
class LayerRow:
    name: str  # the state_dict prefix: layers.0, layers.2.layers.1, output
    kind: str  # Dense(4 -> 16) + ReLU()
    width: int  # output width
    params: int  # trainable values (inside a residual block: counted in the block's row too)
    buffers: int  # saved but not trained (batchnorm running statistics)
    depth: int  # 0 for top-level entries, 1 inside a residual block, ...


def architecture_rows(network: Layer, n_inputs: int) -> list[LayerRow]:
    """One row per config entry (a dense layer and its activation share one), depth first."""
    rows: list[LayerRow] = []
    _walk(network, "", n_inputs, 0, rows)
    return rows


def _walk(layer: Layer, name: str, width: int, depth: int, rows: list[LayerRow]) -> int:
    if isinstance(layer, Sequential) and all(child for child, _ in layer.children):
        for child, sub in layer.children:  # a container: layers.0, layers.1, ... or output
            width = _walk(sub, f"{name}.{child}" if name else child, width, depth, rows)
        return width
    out = layer.output_width(width)
    if isinstance(layer, Residual):
        rows.append(LayerRow(name, "Residual: x + f(x)", out, *_counts(layer), depth))
        inner = width
        for child, sub in layer.body.children:
            inner = _walk(sub, f"{name}.layers.{child}", inner, depth + 1, rows)
        if layer.projection is not None:
            kind = f"{layer.projection!r}, projection of x"
            rows.append(
                LayerRow(f"{name}.projection", kind, out, *_counts(layer.projection), depth + 1)
            )
        return out
    if isinstance(layer, Sequential):  # a dense entry: Dense then its activation
        kind = " + ".join(repr(sub) for _, sub in layer.children)
    else:
        kind = repr(layer)
    rows.append(LayerRow(name, kind, out, *_counts(layer), depth))
    return out


def _counts(layer: Layer) -> tuple[int, int]:
    params = sum(p.value.size for p in layer.parameters())
    total = sum(a.size for a in layer.state_arrays().values())
    return int(params), int(total - params)


def architecture_table(rows: list[LayerRow], n_inputs: int, head: str = "") -> Table:
    """A rich table of the rows, with the input first and the totals last."""
    top = [r for r in rows if r.depth == 0]
    params = sum(r.params for r in top)
    buffers = sum(r.buffers for r in top)
    notes = [f"{params:,} trainable parameters"]
    if buffers:
        notes.append(f"{buffers:,} running statistics (saved, not trained)")
    if head:
        notes.append(head)
    table = Table(title="architecture", caption="; ".join(notes), caption_justify="left")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    table.add_row("input", f"{n_inputs} features", str(n_inputs), "")
    for row in rows:
        indent = "  " * row.depth
        table.add_row(indent + row.name, row.kind, str(row.width), f"{row.params:,}")
    table.add_section()
    table.add_row("total", "", "", f"{params:,}")
    return table


def trainer_table(trainer: Trainer) -> Table:
    """The table of the network a Trainer built (its data fixed the input and output widths)."""
    n_inputs = trainer.data.prep.n_inputs
    out = trainer.out
    head = f"{out.task}: {out.activation['name']} output, {out.loss['name']} loss"
    return architecture_table(architecture_rows(trainer.network, n_inputs), n_inputs, head)


def describe_network(config: Config) -> Table:
    """Build what `nncli train` would build (reading the data, so data and config errors are
    raised as training would raise them) and tabulate the network."""
    from nncli.training.trainer import Trainer

    return trainer_table(Trainer(config, Console(quiet=True)))
