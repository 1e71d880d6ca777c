"""Background jobs on Dramatiq. Import ``workers.broker`` before any actor module."""
