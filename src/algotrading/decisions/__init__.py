"""The decision rules, pure: ranking, safety sizing, cash depletion, risk (owns ``RiskState``) and the plan."""
