"""From plan to broker: the account read from the broker, reconciliation, order intents and submission."""
