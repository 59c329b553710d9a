"""flowdesk.streaming.venues"""
