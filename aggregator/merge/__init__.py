"""Stage 3: records made canonical (normalize, tags), de-duplicated and given a lifecycle."""
