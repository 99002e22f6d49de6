"""Alert rules: what a rule watches (an insight value, a registry metric, an impact figure or an SLA
signal), its condition (threshold, relative change, anomaly, forecast interval), its states and
history, scheduled evaluation (grouped by query) and notifications (bus, signed webhook, email).
docs/alerts.md."""
