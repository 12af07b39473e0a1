"""SLA policies as data and the pure code that loads, validates and evaluates them."""
