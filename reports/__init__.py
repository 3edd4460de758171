"""The monthly and annual industry report (行业统计): sections computed once, rendered as HTML, PDF, CSV and XLSX."""
