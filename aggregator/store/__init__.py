"""Stage 4: the database: source records, events, migrations, leases and source health."""
