"""Background jobs on Dramatiq: the broker, the actors, the scheduler, and where they run.

Declare actors with ``workers.options.actor_options`` (which installs our broker
first) and list their module in ``workers.actors``; see ``workers.runtime``.
"""
