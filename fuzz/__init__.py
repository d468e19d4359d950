"""atheris harnesses, one per adapter type (RELIABILITY F4); run with `make fuzz`, outside CI."""
