"""Who is calling and what they may reach: which client a host name means
(`hosts`), which key is presented and what it may call (`auth`), and the
secrets that belong to one account (`account_secrets`)."""
