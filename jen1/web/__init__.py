"""jen1.web"""
