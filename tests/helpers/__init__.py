"""Code shared by the tests (importable as `helpers`: pyproject puts tests/ on the path)."""
