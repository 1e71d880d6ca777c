"""The WSGI entry point: ``gunicorn -k gevent wsgi:app``.

The composition root: the app, plus (embedded mode) the actors running in this
same process. The app never imports ``workers``; this module joins the two.
"""
from app import create_app
from workers import runtime

app = create_app()
runtime.init_app(app)  # last: an embedded worker starts on a finished app
