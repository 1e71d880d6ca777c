"""Who is calling: accounts, passwords, OAuth/OIDC sign-in and API keys.

- ``authentication``: a Bearer key or a session cookie becomes the principal.
- ``api_keys``: key generation, hashing and the in-process lookup cache.
- ``passwords`` (Argon2), ``emails`` (normalisation), ``throttle`` (sign-in limits).
- ``oauth``, ``oidc``, ``jwks``: Google and Microsoft sign-in and ID-token checks.
"""
