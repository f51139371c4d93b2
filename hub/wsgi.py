"""The hub as a WSGI application for gunicorn: ``gunicorn 'hub.wsgi:app'``.

``ponte hub serve --production`` runs it (see ponte/gunicorn_conf.py). The data dir comes from
``PONTE_DATA_DIR`` (or ``data_dir`` in the config file); every worker opens the same database
and search index. A bad setting stops the worker with a message naming it (ponte.config).
"""

from __future__ import annotations

from hub import create_app
from hub.search_follower import follow_search_index
from ponte.config import data_dir_of, load_settings

app = create_app(data_dir_of(load_settings("hub"), "hub"))
follow_search_index(app)  # each worker keeps the index current (docs/scale-out.md)
