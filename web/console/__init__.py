"""The agent console at /console: queues, cases, releases, audit and administration."""
