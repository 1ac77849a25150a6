"""Cases as they come in from outside: files read in chunks, and every case validated against its flow's fields.
Below the services, so that intake, learning, metrics and the edges read and check cases the same way."""
