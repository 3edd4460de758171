"""The supervisors' KPI reports (统计报表): the formulas, the daily rollups and the charts (no Flask)."""
