"""Audit: timelines, replay verdicts, as-of reconstruction, evidence bundles, what-if and
SLA attainment, from the case workflows' Temporal histories."""
