"""The read model behind `pgtask top`, /metrics and the dashboard: snapshots and windows."""
