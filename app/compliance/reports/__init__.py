"""Compliance reports: one account's evidence over a period, as JSON, HTML or PDF.

``sections`` lists the section builders (each a small function of the period) and
``provisions`` the regulations each section evidences; ``jobs`` runs a report as a
job and keeps the file; ``render_json``, ``render_html`` and ``render_pdf`` turn the
one ``Report`` into a format, ``chart`` draws its charts for HTML and PDF alike.
"""
