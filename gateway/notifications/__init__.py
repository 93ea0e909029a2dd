"""Error notifications: an outbox written with the change that caused it, signed webhooks
delivered from it by a worker in every server process, and the checks that keep webhook URLs
off the gateway's own network."""
