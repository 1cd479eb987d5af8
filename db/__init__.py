"""Tierline's own database: the read model the API lists and filters, and what the
worker, the API and the doors record in it (the only database I/O outside migrations)."""
