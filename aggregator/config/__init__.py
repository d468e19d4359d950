"""Stage 1: sources.yaml read with line marks and validated into typed settings."""
