"""The hub as a WSGI application for gunicorn: ``gunicorn 'hub.wsgi:app'``.

The data dir comes from ``PONTE_DATA_DIR`` (the same directory `ponte hub serve --data-dir`
takes); every worker opens the same database and search index.
"""

from __future__ import annotations

import os
from pathlib import Path

from hub import create_app

app = create_app(Path(os.environ.get("PONTE_DATA_DIR", "data/hub")))
