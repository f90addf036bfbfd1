"""The model zoo as a static web site (``convzoo site --out DIR``): no server, no network, nothing external.

:func:`~convzoo.site.build.build_site` writes an index of every registered model (sortable and filterable
in the browser), a page per model, per operator of the catalogue and per attention block, and the
docs' figures.
"""

from convzoo.site.build import build_site

__all__ = ["build_site"]
