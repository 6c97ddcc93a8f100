"""Storage and AWS: the boto clients (`aws`), the config table (`storage`), the
journal record every request writes (`journal`), session messages
(`sessions`) and the usage counters (`usage`). Imports nothing above it."""
