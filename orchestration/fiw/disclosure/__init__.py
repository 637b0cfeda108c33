"""Disclosure control of the aggregates that leave the warehouse (docs/audiences.md).

``cells`` holds the shape both halves share; ``suppression`` chooses the cells to hide (primary
and complementary); ``audit`` checks, by linear programming and independently of the choices,
that no hidden figure can be narrowed down from the figures published beside it.
"""
