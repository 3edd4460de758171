"""Workers, recruitment and training (招工培训), and the three 70% figures (三个70%)."""
