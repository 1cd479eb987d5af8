"""How Tierline is watched: metrics, traces, structured logs."""
