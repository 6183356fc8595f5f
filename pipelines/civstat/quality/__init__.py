"""Data quality: Great Expectations 1.x suites kept in expectations/, run over clean tables and marts."""
