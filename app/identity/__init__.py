"""Who is calling: accounts, passwords, OAuth/OIDC sign-in and API keys.

- ``accounts``: sign-up, log-in, password change, start and end a session.
- ``authentication``: a Bearer key or a session cookie becomes the principal.
- ``api_keys``: key generation, hashing and the in-process lookup cache.
- ``sessions``: server-side session generations, idle and absolute lifetimes.
- ``passwords`` (Argon2; ``common_passwords`` refused), ``emails`` (normalisation,
  look-alikes), ``throttle`` (sign-in limits).
- ``oauth``, ``oidc``, ``jwks``: Google and Microsoft sign-in and ID-token checks.
"""
