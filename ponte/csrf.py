"""CSRF protection for every form (Flask-WTF); JSON APIs authenticated by tokens are exempt."""

from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
