"""slawatch: SLA escalation engine."""
