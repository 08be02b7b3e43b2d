"""Analytics: the dashboard figures (queries), their pre-aggregation and charts."""
