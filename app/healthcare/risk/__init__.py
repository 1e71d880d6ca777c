"""High-risk decisions and their human review (healthcare tier).

``rules`` (a pure classifier over a rule set shipped as a data file), ``cases``
(the sealed request and answer handed to the classifier off the hot path),
``assessment`` (the worker side: classify, append an amendment, raise the webhook),
``oversight`` (clinicians' reviews, approved models and compliance violations).
"""
