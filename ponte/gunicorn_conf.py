"""gunicorn's settings for Ponte.

``ponte hub serve --production`` and ``ponte node serve --production`` run gunicorn with this
file (it ships inside the package, so it is found wherever Ponte is installed);
``deploy/gunicorn.conf.py`` imports it for running gunicorn yourself::

    PONTE_DATA_DIR=/var/lib/ponte/hub gunicorn -c deploy/gunicorn.conf.py -b 127.0.0.1:5080 \\
        hub.wsgi:app

Sized by the ``WORKERS`` and ``THREADS`` settings (``PONTE_WORKERS``, ``PONTE_THREADS``; see
ponte/config.py). Anything here can be overridden with gunicorn's own ``GUNICORN_CMD_ARGS``
(e.g. ``--max-requests 5000``), which gunicorn applies after this file.

``preload_app`` is off, on purpose:

- every worker builds its own app after the fork, so no database connection, open index file
  or (node) unlocked key is shared between processes by accident;
- SIGHUP (``systemctl reload``) then starts workers that build the app anew, with the config
  file as it is now, without dropping a connection; with preload, the master's old app would
  be forked again. (The environment is the master's, fixed when it started, and so are the
  modules it imported for this file: after a changed environment file or an upgrade,
  restart.)
- it costs a little memory (the app is imported once per worker) and a slower worker start,
  which ``serve --production``'s pre-flight (one app built before gunicorn starts) keeps out
  of the critical path: tables and the search index already exist when workers start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ponte.config import load_settings

_settings = load_settings(None)  # the settings both services share; a bad one stops here

worker_class = "gthread"  # threads: most time is spent waiting for the database or a client
workers = _settings["WORKERS"]
threads = _settings["THREADS"]
# The master kills a worker that has not checked in for this long (a stuck worker); gthread
# workers check in between requests of their threads, so a long upload does not count.
timeout = 30
graceful_timeout = 30  # SIGTERM / SIGHUP: requests in flight get this long to finish
# Longer than nginx's upstream keepalive_timeout (60 s, deploy/nginx): the proxy, not
# gunicorn, closes an idle connection, so nginx never sends a request on a closing one.
keepalive = 75
# Recycle each worker after about this many requests (jitter: not all at once), which bounds
# the memory a slow leak in any library could take.
max_requests = 1000
max_requests_jitter = 100
preload_app = False
# gunicorn >= 25.1 opens a control socket in $HOME/.gunicorn by default: one path for every
# instance of a user (a hub and a node would share it), under a home systemd makes read-only.
# Signals (systemctl reload/stop) do all Ponte needs. Older gunicorns ignore the name.
control_socket_disable = True
# Only the local proxy may set X-Forwarded-Proto, and only when the admin said there is one
# (TRUSTED_PROXIES); the app's ProxyFix then reads the same headers (ponte.serve).
forwarded_allow_ips = _settings["FORWARDED_ALLOW_IPS"] if _settings["TRUSTED_PROXIES"] else ""
# One line per request on stdout (journald keeps it). The path only, never the query string:
# search terms and unsubscribe tokens travel there. worker=<pid> tells the workers apart.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms worker=%(p)s'
errorlog = "-"
loglevel = "info"

METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Kept in the environment, not in this module: a reload (SIGHUP) reads this file again into a
# new module, and on_exit must still find the directory that on_starting made.
MADE_METRICS_DIR_VARIABLE = "PONTE_GUNICORN_METRICS_DIR"


def on_starting(server: Any) -> None:
    """Before any worker: one metrics directory that every worker writes its counts to, so a
    scrape of /metrics from any worker adds all of them up (ponte.metrics). Set before a worker
    imports prometheus_client, which reads it once."""
    if not os.environ.get(METRICS_DIR_VARIABLE):
        made = tempfile.mkdtemp(prefix="ponte-metrics-")
        os.environ[METRICS_DIR_VARIABLE] = os.environ[MADE_METRICS_DIR_VARIABLE] = made
    from ponte.metrics import clear_multiprocess_dir

    clear_multiprocess_dir()


def child_exit(server: Any, worker: Any) -> None:
    from ponte.metrics import child_exit as forget_worker

    forget_worker(server, worker)


def on_exit(server: Any) -> None:
    made = os.environ.get(MADE_METRICS_DIR_VARIABLE)
    if made:
        shutil.rmtree(made, ignore_errors=True)
