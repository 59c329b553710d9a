"""flowdesk.crews"""
