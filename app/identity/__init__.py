"""Accounts, passwords, OAuth/OIDC sign-in, sessions and API keys."""
