"""flowdesk.streaming.simulator"""
