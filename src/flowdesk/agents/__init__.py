"""flowdesk.agents"""
