"""The only file access of the core: YAML profiles and workloads (bundled names, ``extends``, overrides),
measurement records, published tables, and the data sets bundled in the package."""
