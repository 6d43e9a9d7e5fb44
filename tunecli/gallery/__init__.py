"""Sweeps and comparison galleries (SPEC §6): ``grid.png``, ``index.html`` and ``manifest.json``.

:mod:`~tunecli.gallery.grid` draws the comparison sheet, :mod:`~tunecli.gallery.html` writes the
offline page, :mod:`~tunecli.gallery.manifest` records what was run, and
:mod:`~tunecli.gallery.sweep` runs a model over a sweep and writes all of it. Only ``sweep``
needs torch; the others work on arrays and files.
"""
