"""The HTTP edge: API Gateway events in, envelopes out. The resolver, the one
exception handler, body limits and the journaled run of every request (`web`),
and the envelope every answer takes (`envelope`)."""
