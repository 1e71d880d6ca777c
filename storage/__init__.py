"""Storage: the only code that queries the database.

``database`` binds the backend from ``DATABASE_URL``; ``*_models`` (and ``models``)
are the Peewee tables, listed in ``tables``; each other module is a repository
taking and returning plain dataclasses (``records`` and its own). ``errors`` are
storage's own: the app translates them. Imports nothing from ``app`` or ``workers``.
"""
