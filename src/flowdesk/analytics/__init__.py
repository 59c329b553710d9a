"""flowdesk.analytics"""
