"""jen1.train"""
