"""Live tuning (``tunecli tune IMAGE``): a local web page with one slider per alpha axis.

The pieces, each in its own module:

* :mod:`tunecli.tune.command` — the current alpha in ``--alpha`` syntax and the equivalent
  ``tunecli TASK …`` command line (pure Python, no torch);
* :mod:`tunecli.tune.regions` — the region geometry: which crop of the full-resolution image a
  view region needs so that its output equals the whole image's (pure Python);
* :mod:`tunecli.tune.session` — the engine side: regions rendered through
  :class:`tunecli.api.Restorer`, only the newest request computed, Save through the batch runner;
* :mod:`tunecli.tune.server` — the local HTTP server (starlette + uvicorn, the ``[ui]`` extra):
  token, Host and Origin checks and the page's endpoints;
* ``static/`` — the page itself (HTML, CSS and JavaScript; nothing is fetched from elsewhere).
"""
