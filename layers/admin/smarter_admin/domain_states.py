"""A domain's states, apart from `domains` so the CLI can name them without
importing botocore (`smarter --help` stays fast)."""

REQUESTED = "requested"
PENDING = "pending_validation"
ISSUED = "issued"
VERIFIED = "verified"
FAILED = "failed"
REMOVED = "removed"
OPEN = (REQUESTED, PENDING, ISSUED)  # states the scheduled function keeps advancing
