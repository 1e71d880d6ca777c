"""The exact-match response cache, per account.

``keys`` decides whether a request may be cached and fingerprints it; ``store``
keeps answers (Redis or an in-process LRU); ``replay`` turns a stored completion
back into a stream and a stream into a completion.
"""
