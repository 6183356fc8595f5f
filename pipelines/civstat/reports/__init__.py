"""Reports on the published warehouse: caseworker warning lists (and, later, the annual workbook and charts)."""
