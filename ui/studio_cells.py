"""A notebook draft's starter or solution in the lesson studio, as a list of cells: each code cell in an
editor, each markdown cell in a text area (its Markdown; stored as ``# `` comments, tutor.lessons.cells), with
buttons to add, move and delete cells. The percent-format text stays the truth: the cells are read from it,
and their ``join_cells`` is the draft's text again, unchanged until a cell is edited, added, moved or deleted.

No engine here (tutor.lessons.cells parses and joins); this module keeps the studio's list of cells with stable
ids (so an editor keeps its text when its cell moves) and draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import streamlit as st

from tutor.lessons.cells import Cell, CellKind, commented, join_cells, markdown_text, parse_cells
from ui import plain
from ui.editor import code_editor, split_run_marker

# The cells' buttons, smaller than Streamlit's: five under each cell (a constant of ours, for ui.plain.style).
CELLS_CSS = (
    '[class*="st-key-studio-cell-"] button{min-height:2rem;padding:0.125rem 0.625rem}'
    '[class*="st-key-studio-cell-"] button p{font-size:0.8125rem}'
)


def style_cells() -> None:
    plain.style(CELLS_CSS)


class CellOp:
    UP = "up"
    DOWN = "down"
    DELETE = "delete"
    ADD_CODE = "add-code"
    ADD_MARKDOWN = "add-markdown"


@dataclass
class CellItem:
    id: int  # stable while the draft is open: part of its widgets' keys
    cell: Cell  # as last read: a code cell's editor text as sent, a markdown cell's commented lines


def widget_key(item: CellItem) -> str:
    return f"studio-cell-{item.id}"


def button_key(item: CellItem | None, op: str, name: str = "") -> str:
    return f"studio-cell-{item.id}-{op}" if item is not None else f"studio-{name}-first-{op}"


def items_of(text: str, new_id: Callable[[], int]) -> list[CellItem]:
    return [CellItem(new_id(), cell) for cell in parse_cells(text)]


def joined(items: list[CellItem]) -> str:
    """The draft's text of the cells (an editor's trailing new lines are not part of its cell)."""
    cells = [replace(i.cell, source=i.cell.source.rstrip("\n")) if i.cell.kind is CellKind.CODE else i.cell
             for i in items]  # fmt: skip
    return join_cells(cells)


def same_shape(items: list[CellItem], text: str) -> bool:
    """The text reads as these cells (a line "# %%" typed into a cell makes two of it)."""
    return [item.cell.kind for item in items] == [cell.kind for cell in parse_cells(text)]


def read_widgets(items: list[CellItem]) -> bool:
    """Take each cell's newest text from its widget; True when any cell changed."""
    changed = False
    for item in items:
        raw = st.session_state.get(widget_key(item))
        if item.cell.kind is CellKind.CODE:
            value, _ = split_run_marker(raw)
            if value is not None and value != item.cell.source:
                item.cell, changed = replace(item.cell, source=value), True
        elif isinstance(raw, str) and raw != markdown_text(item.cell):
            item.cell, changed = replace(item.cell, source=commented(raw)), True
    return changed


def apply(items: list[CellItem], op: str, item_id: int | None, new_id: Callable[[], int]) -> list[CellItem]:
    """The cells after ``op`` on the cell ``item_id`` (None: the list is empty, add the first cell). A new cell
    goes below. Empty lines between cells stay one at least; the text ends as it did."""
    items = list(items)
    end_gap = items[-1].cell.gap if items else 0
    at = next((i for i, item in enumerate(items) if item.id == item_id), None)
    if op in (CellOp.ADD_CODE, CellOp.ADD_MARKDOWN):
        kind = CellKind.CODE if op == CellOp.ADD_CODE else CellKind.MARKDOWN
        items.insert(0 if at is None else at + 1, CellItem(new_id(), Cell(kind, "")))
    elif at is None:
        return items
    elif op == CellOp.UP and at > 0:
        items[at - 1], items[at] = items[at], items[at - 1]
    elif op == CellOp.DOWN and at < len(items) - 1:
        items[at], items[at + 1] = items[at + 1], items[at]
    elif op == CellOp.DELETE:
        items.pop(at)
    for position, item in enumerate(items):
        last = position == len(items) - 1
        gap = end_gap if last else max(item.cell.gap, 1)
        if gap != item.cell.gap:
            item.cell = replace(item.cell, gap=gap)
    return items


def render_cells(name: str, label: str, items: list[CellItem], on_op: Callable[[str, int | None, str], None]) -> None:
    """The cells of the draft's ``name`` (starter or solution), each with its buttons; ``on_op(name, id, op)``
    runs before the page does (a Streamlit callback)."""
    number = 0
    for position, item in enumerate(items, start=1):
        code = item.cell.kind is CellKind.CODE
        number += code
        with st.container(border=True, key=f"studio-cellbox-{item.id}"):
            head = f"Code cell {number}" if code else "Markdown cell"
            plain.show(plain.strong(head), f" · {item.cell.title}" if item.cell.title else "", muted=True)
            if code:
                code_editor(item.cell.source, widget_key(item), mode="python", min_lines=3)
            else:
                st.text_area(
                    f"Markdown cell at position {position} of the {label}", value=markdown_text(item.cell),
                    key=widget_key(item), label_visibility="collapsed", height="content",
                    placeholder="Markdown: a heading, a paragraph, a list...",
                )  # fmt: skip
            with st.container(horizontal=True, gap="small"):
                first, last = position == 1, position == len(items)
                st.button(
                    "Move up",
                    key=button_key(item, CellOp.UP),
                    disabled=first,
                    help="Moves this cell above the one before it",
                    **_on(on_op, name, item, CellOp.UP),
                )
                st.button(
                    "Move down",
                    key=button_key(item, CellOp.DOWN),
                    disabled=last,
                    help="Moves this cell below the one after it",
                    **_on(on_op, name, item, CellOp.DOWN),
                )
                st.button(
                    "Add code cell",
                    key=button_key(item, CellOp.ADD_CODE),
                    help="Adds an empty code cell below this one",
                    **_on(on_op, name, item, CellOp.ADD_CODE),
                )
                st.button(
                    "Add markdown cell",
                    key=button_key(item, CellOp.ADD_MARKDOWN),
                    help="Adds an empty markdown cell below this one",
                    **_on(on_op, name, item, CellOp.ADD_MARKDOWN),
                )
                st.button("Delete", key=button_key(item, CellOp.DELETE), help="Deletes this cell",
                          **_on(on_op, name, item, CellOp.DELETE))  # fmt: skip
    if not items:
        plain.show("No cells yet.", muted=True)
        st.button(
            "Add code cell", key=button_key(None, CellOp.ADD_CODE, name), **_on(on_op, name, None, CellOp.ADD_CODE)
        )


def _on(on_op: Callable[[str, int | None, str], None], name: str, item: CellItem | None, op: str) -> dict:
    return {"on_click": on_op, "args": (name, None if item is None else item.id, op)}
