"""The node as a WSGI application for gunicorn: ``gunicorn 'node.wsgi:app'``.

``ponte node serve --production`` runs it (see ponte/gunicorn_conf.py). The data dir comes from
``PONTE_DATA_DIR`` (or ``data_dir`` in the config file). Every worker unlocks the keystore
itself with the ``PASSPHRASE`` setting (``PONTE_PASSPHRASE``): there is no terminal to ask at,
and keys are never handed from process to process. No sync thread runs here: with several
workers there would be several; ``ponte node sync --loop`` runs beside gunicorn instead.
"""

from __future__ import annotations

from node import create_app
from node.keys import KeysLocked, unlock_keys
from ponte.config import ConfigError, data_dir_of, load_settings

_settings = load_settings("node")
app = create_app(data_dir_of(_settings, "node"))
try:
    unlock_keys(app, app.config["DATA_DIR"], _settings["PASSPHRASE"])
except KeysLocked as error:  # a worker that cannot unlock must not serve a half-working node
    raise ConfigError([str(error)]) from error
