"""Statutory returns (SSDA903, CIN census) as a second kind of snapshot folder (docs/returns.md).

The loader asks :func:`checksum_folder` first: for a folder holding ``ssda903/`` or ``cin/`` it
returns a :class:`ReturnsFolder`, which :func:`stage_folder` reads into the same staged SSD
objects as an SSD export; everything after staging (row rules, quarantine, volume rule, raw and
audit) is shared.
"""

from fiw.extract.returns.folder import (
    CARRIED,
    ReturnsFolder,
    checksum_folder,
    is_returns_folder,
    stage_folder,
)

__all__ = ["CARRIED", "ReturnsFolder", "checksum_folder", "is_returns_folder", "stage_folder"]
