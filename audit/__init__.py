"""Audit: timelines, replay verdicts, as-of reconstruction, evidence bundles, what-if, SLA attainment."""
