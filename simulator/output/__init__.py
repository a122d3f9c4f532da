"""Strings and bytes, nothing printed: human units, tables, figures (matplotlib on demand) and the HTML report."""
