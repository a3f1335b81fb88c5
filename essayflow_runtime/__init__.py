"""The runtime every essayflow service shares: configuration, contracts, database,
events (outbox, consumers, relays), gRPC bootstrap, auth and logging.

A library the services call, not a framework they inherit from.
"""
