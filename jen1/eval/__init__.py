"""jen1.eval"""
