"""flowdesk.streaming"""
