"""gunicorn settings for Ponte, for running gunicorn yourself (the admin's copy).

``ponte hub serve --production`` and ``ponte node serve --production`` already use the same
settings, shipped inside the package as ``ponte/gunicorn_conf.py``; this file imports them, so
that both stay one. To run gunicorn directly (e.g. another process manager)::

    PONTE_DATA_DIR=/var/lib/ponte/hub gunicorn -c deploy/gunicorn.conf.py \\
        -b 127.0.0.1:5080 hub.wsgi:app
    PONTE_DATA_DIR=/var/lib/ponte/node PONTE_PASSPHRASE=... gunicorn -c deploy/gunicorn.conf.py \\
        -b 127.0.0.1:5081 node.wsgi:app     # and `ponte node sync --loop` beside it

Size it with PONTE_WORKERS and PONTE_THREADS; change anything else by assigning it below
(e.g. ``max_requests = 5000``) or with GUNICORN_CMD_ARGS.
"""

from ponte.gunicorn_conf import *  # noqa: F403

# Your changes here, e.g.:
# timeout = 60
