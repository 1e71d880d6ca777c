"""Background jobs on Dramatiq: the actors, where they run, and the schedule.

Actors are thin: they call the app's services. ``actors`` lists every actor
module and the periodic schedule; ``runtime`` runs them embedded (in the web
process, started by ``wsgi.py``) or as ``aqta worker``; ``broker`` adds the
worker-side middleware to the app's broker (``app.jobs``); ``options`` holds the
defaults every actor is declared with. ``workers`` imports ``app``, never the reverse.
"""
