"""flowdesk.storage"""
