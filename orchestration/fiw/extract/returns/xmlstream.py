"""Stream the records of a big XML file with ``lxml.etree.iterparse``, clearing as it goes.

:func:`records` yields each element at a given path (``("Message", "Children", "Child")``) with
its XPath-style location (``/Message/Children/Child[12]``), complete with its subtree, and drops it
once the caller is done, so a file of any size is read in the memory of one record. Elements
at other paths the caller names (a header's) are offered to it when they end. Namespaces are ignored
(elements are matched by local name); entities are not resolved and nothing is fetched from the
network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from lxml import etree

from fiw.extract.returns.rows import FileProblem

_POSITION = re.compile(r",? line \d+, column \d+$")


def local(tag: object) -> str | None:
    """An element's local name; None for comments and processing instructions."""
    if not isinstance(tag, str):
        return None
    return tag.rsplit("}", 1)[-1]


def _any_ns(name: str) -> str:
    """lxml's pattern for ``name`` in any namespace or none."""
    return "{*}" + name


def children(element: etree._Element, name: str) -> list[etree._Element]:
    return list(element.iterchildren(_any_ns(name)))


def text(element: etree._Element | None, name: str) -> str | None:
    """Trimmed text of the first child called ``name``; None when absent or empty."""
    return fields(element).get(name)


def fields(element: etree._Element | None) -> dict[str, str | None]:
    """Trimmed text of each child by local name (the first of a name), in one pass: reading a
    record's values this way costs one Python step per child, not one search per value."""
    out: dict[str, str | None] = {}
    if element is None:
        return out
    for c in element:
        tag = c.tag
        if type(tag) is not str:  # an entity reference
            continue
        if tag[0] == "{":
            tag = tag[tag.index("}") + 1 :]
        if tag not in out:
            text = c.text
            if text is not None:
                text = text.strip() or None
            out[tag] = text
    return out


def child(element: etree._Element | None, name: str) -> etree._Element | None:
    if element is None:
        return None
    return element.find(_any_ns(name))


def _path(element: etree._Element) -> tuple[str | None, ...]:
    """Local names from the root down to ``element``."""
    names = []
    while element is not None:
        names.append(local(element.tag))
        element = element.getparent()
    return tuple(reversed(names))


def records(
    path: Path,
    display: str,
    record_path: tuple[str, ...],
    watch: dict[tuple[str, ...], Callable[[etree._Element], None]] | None = None,
) -> Iterator[tuple[str, etree._Element]]:
    """Yield ``(location, element)`` for each element at ``record_path`` (root name first).

    ``watch`` maps other paths (a header's element) to a function called with the element when
    it ends. Only the root, the records' and the watched elements' names reach Python
    (``iterparse``'s tag filter): the parser builds the rest of each record without a Python call
    per element, which is what makes a big file quick to read.

    Raises :class:`FileProblem` naming ``display`` when the file is not well-formed XML or its
    root element is not ``record_path[0]``; ``OSError`` when it cannot be read.
    """
    watch = watch or {}
    root_name, record_name = record_path[0], record_path[-1]
    tags = sorted({_any_ns(n) for n in (root_name, record_name, *(p[-1] for p in watch))})
    prefix = "/" + "/".join(record_path[:-1])
    parent, n = None, 0  # the records' parent element and how many records it had so far
    record_tag = None  # the last record's tag (with its namespace)
    checked = False
    with path.open("rb") as f:
        parser = etree.iterparse(
            f,
            events=("start", "end"),
            tag=tags,
            resolve_entities=False,
            no_network=True,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            for event, element in parser:
                if not checked:  # the first element reported: the root, if the root is right
                    _check_root(element.getroottree().getroot(), root_name, display)
                    checked = True
                if event == "start":
                    continue
                tag = element.tag
                if tag == record_tag and element.getparent() is parent:
                    # beside the previous record: the same path, no need to walk up to the root
                    n += 1
                    yield f"{prefix}/{record_name}[{n}]", element
                    _drop(element)
                    continue
                name = local(tag)
                where = _path(element)
                if name == record_name and where == record_path:
                    if element.getparent() is not parent:
                        parent, n = element.getparent(), 0
                    record_tag = tag
                    n += 1
                    yield f"{prefix}/{record_name}[{n}]", element
                    _drop(element)
                elif where in watch:
                    watch[where](element)
        except etree.XMLSyntaxError as e:
            line = f" (line {e.lineno}, column {e.offset})" if e.lineno else ""
            message = (e.msg or str(e)).strip().splitlines()[0]
            message = _POSITION.sub("", message)  # already said, before the message
            raise FileProblem(f"{display}: not well-formed XML{line}: {message}") from None
        if not checked and parser.root is not None:  # nothing matched: only the root can tell
            _check_root(parser.root, root_name, display)


def _check_root(root: etree._Element, name: str, display: str) -> None:
    if local(root.tag) != name:
        raise FileProblem(f"{display}: root element is <{local(root.tag)}>, not <{name}>")


def _drop(element: etree._Element) -> None:
    """Free an element and every earlier sibling: what has been read is never needed again."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]
