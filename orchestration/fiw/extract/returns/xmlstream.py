"""Stream the records of a big XML file with ``lxml.etree.iterparse``, clearing as it goes.

:func:`records` yields each element at a given path (``("Message", "Children", "Child")``) with
its XPath-style location (``/Message/Children/Child[12]``), complete with its subtree, and drops it
once the caller is done, so a file of any size is read in the memory of one record. Elements
outside the path (a header) are offered to ``on_other`` when they end. Namespaces are ignored
(elements are matched by local name); entities are not resolved and nothing is fetched from the
network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from fiw.extract.returns.rows import FileProblem, clean

_POSITION = re.compile(r",? line \d+, column \d+$")


def local(tag: object) -> str | None:
    """An element's local name; None for comments and processing instructions."""
    if not isinstance(tag, str):
        return None
    return tag.rsplit("}", 1)[-1]


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if local(c.tag) == name]


def text(element: etree._Element | None, name: str) -> str | None:
    """Trimmed text of the first child called ``name``; None when absent or empty."""
    if element is None:
        return None
    for c in element:
        if local(c.tag) == name:
            return clean(c.text)
    return None


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    return next((c for c in element if local(c.tag) == name), None)


def records(
    path: Path,
    display: str,
    record_path: tuple[str, ...],
    on_other: Callable[[tuple[str, ...], etree._Element], None] | None = None,
) -> Iterator[tuple[str, etree._Element]]:
    """Yield ``(location, element)`` for each element at ``record_path`` (root name first).

    Raises :class:`FileProblem` naming ``display`` when the file is not well-formed XML or its
    root element is not ``record_path[0]``; ``OSError`` when it cannot be read.
    """
    names: list[str] = []  # local names from the root down to the current element
    steps: list[str] = []  # the same as XPath steps with their index: Child[12]
    counts: list[dict[str, int]] = [{}]  # per open element: how many of each child name so far
    depth = len(record_path)
    with path.open("rb") as f:
        parser = etree.iterparse(
            f,
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for event, element in parser:
                name = local(element.tag) or ""
                if event == "start":
                    if not names and name != record_path[0]:
                        raise FileProblem(
                            f"{display}: root element is <{name}>, not <{record_path[0]}>"
                        )
                    n = counts[-1][name] = counts[-1].get(name, 0) + 1
                    names.append(name)
                    steps.append(f"{name}[{n}]" if len(names) == depth else name)
                    counts.append({})
                    continue
                if tuple(names) == record_path:
                    yield "/" + "/".join(steps), element
                    _drop(element)
                elif tuple(names[:depth]) != record_path:  # not inside a record
                    if on_other is not None:
                        on_other(tuple(names), element)
                    if len(names) == 2:
                        _drop(element)
                names.pop()
                steps.pop()
                counts.pop()
        except etree.XMLSyntaxError as e:
            line = f" (line {e.lineno}, column {e.offset})" if e.lineno else ""
            message = (e.msg or str(e)).strip().splitlines()[0]
            message = _POSITION.sub("", message)  # already said, before the message
            raise FileProblem(f"{display}: not well-formed XML{line}: {message}") from None


def _drop(element: etree._Element) -> None:
    """Free an element and every earlier sibling: what has been read is never needed again."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
