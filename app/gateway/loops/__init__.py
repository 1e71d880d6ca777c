"""Loop detection: agents that send the same (or nearly the same) request again and again.

``detector`` keeps each key's recent requests (Redis or in process) and judges
repeats, near-duplicates and cycles; ``similarity`` is the pure comparison.
"""
