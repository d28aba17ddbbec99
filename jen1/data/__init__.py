"""jen1.data"""
