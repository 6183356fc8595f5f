"""Data quality: Great Expectations 1.x suites kept in expectations/, run over clean tables and marts."""

import warnings

# Great Expectations imports pyspark when it is installed (the optional Spark target), which warns
# about pandas 3 on import: not the user's concern, and two lines in every run that runs checks,
# from the CLI or in a Dagster step alike (GX is imported only through this package)
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
