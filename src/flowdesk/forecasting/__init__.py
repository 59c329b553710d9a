"""flowdesk.forecasting"""
