"""flowdesk.tools"""
