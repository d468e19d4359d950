"""atheris harnesses, one per adapter type (docs/reliability.md F4); run with `make fuzz`, outside CI."""
