"""AWS clients for one account's resources only: what plugin kinds call
(secrets, Aurora). The credentials and their session policy live in
smarter.store.tenant_aws, below the store functions that use them too
(the account's config items and sessions), so that everything read on a
request's behalf after its account is known goes through the same scoped
credentials."""

from __future__ import annotations

from smarter.store.tenant_aws import client, credentials, reset, session_policy

__all__ = ["client", "credentials", "reset", "session_policy"]
