"""Notifications: commit statuses on the git host, signed outgoing webhooks, chat and e-mail
through apprise. Sent by the notify process from its own rq queue (see :mod:`cli.notify`),
never by a build: :mod:`core.notifications` is the outbox builds write to."""
