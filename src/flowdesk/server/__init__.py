"""flowdesk.server"""
