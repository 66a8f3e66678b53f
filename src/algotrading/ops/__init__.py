"""Operations: the production-readiness checks (``algotrading validate``) and the schedule."""
