"""Tierline's web pages: the agent console (`/console`), signed in with a password."""
