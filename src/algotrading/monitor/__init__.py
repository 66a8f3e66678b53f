"""Monitoring and alerting (Requirement 4.2): alert conditions, the status report from
the run ledger, and the health dashboard ``reports/status.html``."""
